"""The API process never imports PyTorch (DESIGN.md §1): workers own the model."""

import subprocess
import sys

from tests.support.processes import ROOT


def test_building_the_api_imports_no_model_code(env):
    code = (
        "import sys; from api.main import create_app; create_app(); "
        "print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
