"""app/chat/capabilities.py: which capabilities a request enables, and whether files may be sent."""
import pytest

from app.chat import capabilities
from app.errors import ApiError

AVAILABLE = [{"id": "web_search", "enabled_by_default": True}, {"id": "code", "enabled_by_default": False},
             {"name": "File upload"}]


def test_none_requested_means_the_defaults_and_duplicates_collapse():
    assert capabilities.select(AVAILABLE, None) == [AVAILABLE[0]]
    assert capabilities.select(AVAILABLE, ["code", "web_search", "code"]) == [AVAILABLE[1], AVAILABLE[0]]
    assert capabilities.select(AVAILABLE, []) == []


def test_unknown_capabilities_are_named_in_a_400():
    with pytest.raises(ApiError) as caught:
        capabilities.select(AVAILABLE, ["teleport", "web_search"])
    assert "teleport" in caught.value.message
    assert caught.value.details["validation_errors"][0]["code"] == "unknown_capability"


def test_files_follow_the_declared_flag_only():
    capabilities.check_files(False, [])
    capabilities.check_files(True, ["3fa85f64-5717-4562-b3fc-2c963f66afa6"])
    with pytest.raises(ApiError) as caught:
        capabilities.check_files(False, ["3fa85f64-5717-4562-b3fc-2c963f66afa6"])
    assert caught.value.details["validation_errors"][0]["code"] == "files_not_allowed"
