"""A demo webhook backend: echoes the user's message back word by word (see app.py)."""
