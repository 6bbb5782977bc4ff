import json
from pathlib import Path

import pytest

SCHEMA = Path(__file__).with_name("gradescope_results.schema.json")


@pytest.hookimpl(tryfirst=True)  # before tests/conftest.py deselects the slow tests
def pytest_collection_modifyitems(items):
    """test_attacks.py grades on uml only the attacks of UML_QUICK unless MOUNTLAB_SLOW=1 (a
    guest per learner): the others' tests on uml are slow(ci=False), left out rather than
    skipped (tests/slow.py)."""
    for item in items:
        spec = getattr(item, "callspec", None)
        if (item.module.__name__.endswith(".test_attacks") and spec is not None
                and spec.params.get("graded") == "uml" and "name" in spec.params
                and spec.params["name"] not in item.module.UML_QUICK):
            item.add_marker(pytest.mark.slow(ci=False))


@pytest.fixture(scope="session")
def gradescope_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="session")
def reference_outcome(tmp_path_factory):
    """The reference solutions graded once, through the whole grader (jail included)."""
    from mountlab import registry
    from mountlab.grading import grader

    outcome = grader.grade_submission(registry.KIT_ROOT / "solutions", student="reference",
                                      workdir=tmp_path_factory.mktemp("grade"))
    assert outcome.status == "ok", outcome.status + "\n" + outcome.log[-3000:]
    return outcome
