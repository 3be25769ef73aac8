"""Which of a session's capabilities a request enables (ADR-0022), and whether files may be attached."""
from app.errors import invalid


def capability_key(capability):
    return capability.get("id") or capability.get("name")


def select(available, requested):
    """The capability objects to forward. None requested means the ones enabled by default."""
    if requested is None:
        return [c for c in available if c.get("enabled_by_default")]
    by_key = {capability_key(c): c for c in available}
    unknown = [name for name in requested if name not in by_key]
    if unknown:
        raise invalid(f"capabilities not available in this session: {', '.join(sorted(set(unknown)))}",
                      field="enabled_capabilities", code="unknown_capability")
    return [by_key[name] for name in dict.fromkeys(requested)]


# The capability id a backend announces in session.created to accept file_ids. Whether a session
# accepts files is decided in SQL (session_accepts_files, migration 003): the session type's
# `accepts_files` when set, else this declaration. Names are never guessed.
FILE_ATTACHMENTS = "file_attachments"


def check_files(accepts_files, file_ids):
    if file_ids and not accepts_files:
        raise invalid("this session does not accept file attachments (its backend does not declare the "
                      f"{FILE_ATTACHMENTS!r} capability, or its session type refuses files)", field="file_ids",
                      code="files_not_allowed")
