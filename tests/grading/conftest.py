import json
from pathlib import Path

import pytest

SCHEMA = Path(__file__).with_name("gradescope_results.schema.json")


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
