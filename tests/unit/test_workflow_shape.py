"""The workflows that deploy and preview are thin (DESIGN principle 7): their YAML checks out, sets up
the toolchain, restores caches, names credentials and calls one script of the product per step;
every decision is in scripts/ci, which tests/unit/test_deploy_workflow.py and
test_preview_workflow.py run (and tests/e2e/test_workflows.py under the real engine)."""

from __future__ import annotations

import re

import pytest

from tests.unit.workflow_steps import INTERPRETERS, load

THIN = ("preview.yml", "deploy.yml")
# What a `run:` may be: a set-up target of the Makefile, or one call of a scripts.ci command with
# plain flags whose values are literals or the step's own env variables (no pipes, no `;`/`&&`, no
# `${{ }}` in the script: values arrive through `env:`).
SETUP = re.compile(r"make (?:venv|policy-venv|cluster)(?: (?:venv|policy-venv))*")
CALL = re.compile(r"(?:%s) -m scripts\.ci [a-z-]+(?: --[a-z-]+ (?:\"\$[A-Z_]+\"|[A-Za-z0-9_./-]+))*"
                  % "|".join(re.escape(i) for i in INTERPRETERS))
# The actions a thin job may use: set-up, caches, the artifact of a release; pulumi/actions only
# installs the CLI (the scripts run `pulumi` themselves: no `command:`).
ACTIONS = {"actions/checkout", "actions/setup-python", "actions/cache", "actions/upload-artifact", "pulumi/actions"}


def thin_steps():
    for name in THIN:
        for job_name, job in load(name)["jobs"].items():
            for number, step in enumerate(job.get("steps", [])):
                yield pytest.param(step, id=f"{name}:{job_name}:{number}")


@pytest.mark.parametrize("step", list(thin_steps()))
def test_every_step_is_set_up_or_one_script_call(step):
    if "run" in step:
        script = step["run"].strip()
        assert "\n" not in script, f"inline logic in a run: block: {script!r}"
        assert SETUP.fullmatch(script) or CALL.fullmatch(script), (
            f"{script!r}: a run: is `make venv|policy-venv|cluster` or one `<python> -m scripts.ci <command>`")
        assert "${{" not in script, "pass values through env:, never into the script"
    else:
        action = step["uses"].split("@")[0]
        assert action in ACTIONS, f"{action}: not a set-up action; put the logic in scripts/ci"
        if action == "pulumi/actions":
            assert not step.get("with"), "pulumi/actions installs the CLI only; scripts/ci runs pulumi"


def test_each_script_command_exists_and_is_called_by_a_workflow():
    from scripts.ci.__main__ import main

    called = {m.group(1) for name in THIN for job in load(name)["jobs"].values() for step in job.get("steps", [])
              for m in [re.search(r"-m scripts\.ci ([a-z-]+)", step.get("run", ""))] if m}
    assert called == {"manifest-diff", "preview", "deploy-dev", "release-images", "promote-prod"}
    for command in called:
        with pytest.raises(SystemExit) as help_exit:
            main([command, "--help"])
        assert help_exit.value.code == 0, command


def test_the_shape_check_rejects_inline_logic():
    inline = 'registry=$(pulumi config get --stack prod --path registry.server)\nskopeo copy "$ref" "$target"'
    assert not (SETUP.fullmatch(inline) or CALL.fullmatch(inline))
    assert not CALL.fullmatch("python3 -m scripts.ci deploy-dev && pulumi up --stack dev")
    assert CALL.fullmatch('.venv/bin/python -m scripts.ci preview --stack "$STACK"')


def test_commands_run_with_the_runners_python3_need_only_the_standard_library():
    """prod-images and the manifest diff run before (or without) `make venv`: `python3 -m scripts.ci`."""
    import subprocess
    import sys

    from tests.unit.workflow_steps import REPO_ROOT

    modules = {"release-images": "scripts.ci.release", "manifest-diff": "scripts.ci.diff_comment"}
    runs = [step["run"] for name in THIN for job in load(name)["jobs"].values() for step in job.get("steps", [])
            if step.get("run", "").startswith("python3 ")]
    assert sorted(run.split()[3] for run in runs) == sorted(modules)
    blocked = "import sys\nfor name in ('yaml', 'pulumi', 'pulumi_docker', 'components'): sys.modules[name] = None\n"
    probe = blocked + "".join(f"import {module}\n" for module in modules.values()) + "import scripts.ci.__main__\n"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
