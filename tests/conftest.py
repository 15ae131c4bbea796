"""Suite-wide rules: in CI, a real-host tier that cannot run is a failure, not a skip."""

import os

import pytest

HOST_MARKERS = ("krita", "gimp")

# The shared helpers hold assertions too: rewrite them (pytest's detailed failure messages) before
# any test module imports them. helpers_server is also a plugin (its session-wide fixtures).
pytest.register_assert_rewrite("helpers_backend", "helpers_server", "helpers_standin")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    required = os.environ.get("REPAINT_FILL_REQUIRE_HOSTS") == "1"
    if required and report.skipped and any(item.get_closest_marker(m) for m in HOST_MARKERS):
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: REPAINT_FILL_REQUIRE_HOSTS=1 but this real-host test was skipped "
            f"({report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr})"
        )
