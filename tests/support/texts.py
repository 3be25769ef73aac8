"""Texts with a purpose, made on the spot."""


def distinct_words(total_bytes, tag="w"):
    """Text whose full-text vector exceeds PostgreSQL's 1 MiB limit when indexed whole: many distinct
    words, as in a long code listing or a hex dump. `tag` keeps two texts' words apart."""
    words, size, n = [], 0, 0
    while size < total_bytes:
        word = f"{tag}{n:x}q{n * 7919:x}"
        words.append(word)
        size += len(word) + 1
        n += 1
    return " ".join(words)
