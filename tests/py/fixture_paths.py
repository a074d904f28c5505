"""Where the Python tests find fixture sets: the repository's tests/data, then ../shared.

The small sets the tests use most (gpen/tiny64, rrdb/*_tiny, align/align_512,
retinaface/retinaface_mnet) are copied into tests/data (see tests/data/README.md), so
the suite runs with nothing outside the repository. The large ones (gpen/s128,
gpen/bfr256_fp16) stay in ../shared; tests that need them skip with a message when absent.

GPEN_TEST_DATA_DIR overrides tests/data; GPEN_SHARED_DIR overrides ../shared (the
directory next to the repository). GPEN_REQUIRE_SHARED=1 (set by CI, which has
../shared) turns every such skip into a failure, so that a skip cannot hide there.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def data_dir():
    return os.environ.get("GPEN_TEST_DATA_DIR", os.path.join(ROOT, "tests", "data"))


def shared_dir():
    return os.environ.get("GPEN_SHARED_DIR", os.path.join(ROOT, "..", "shared"))


def roots():
    """Fixture roots in lookup order; each holds <kind>/<set>/ (e.g. gpen/tiny64)."""
    return [data_dir(), os.path.join(shared_dir(), "fixtures")]


def fixture_dir(kind, name):
    """The directory of set kind/name (first root that has it), or None."""
    for r in roots():
        d = os.path.join(r, kind, name)
        if os.path.isdir(d):
            return d
    return None


def not_found(kind, name):
    """The skip message for a set that no root has; an error under GPEN_REQUIRE_SHARED=1."""
    message = "fixture set %s/%s not found (looked in %s)" % (
        kind, name, " and ".join(os.path.join(r, kind) for r in roots()))
    if os.environ.get("GPEN_REQUIRE_SHARED") == "1":
        raise AssertionError(message + ", and GPEN_REQUIRE_SHARED=1 forbids skipping")
    return message


def gpen_sets():
    """{set name: directory} for every GPEN set with a model.pth, tests/data first."""
    found = {}
    for r in roots():
        d = os.path.join(r, "gpen")
        if not os.path.isdir(d):
            continue
        for s in sorted(os.listdir(d)):
            if s not in found and os.path.isfile(os.path.join(d, s, "model.pth")):
                found[s] = os.path.join(d, s)
    return dict(sorted(found.items()))
