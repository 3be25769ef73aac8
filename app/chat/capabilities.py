"""Which of a session's capabilities a request enables (ADR-0022), and whether files may be attached."""
from app.errors import invalid

FILE_CAPABILITY_HINTS = ("file", "attachment", "document", "upload", "vision", "image_input")


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


def allows_files(available):
    """A session accepts file_ids when one of its capabilities is about files (by id or name)."""
    for capability in available:
        key = (capability_key(capability) or "").lower()
        if any(hint in key for hint in FILE_CAPABILITY_HINTS):
            return True
    return False


def check_files(available, file_ids):
    if file_ids and not allows_files(available):
        raise invalid("this session's capabilities do not allow file attachments", field="file_ids",
                      code="files_not_allowed")
