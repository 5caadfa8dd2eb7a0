"""Secrets and target text through every output a real pytest run writes (issue 11).

Each run: a failing check handed a long token with quotes and backslashes, a PEM key file,
``-l``, DEBUG live logging, ``--log-file``, ``--debug``, junitxml and pytest-html. No 8-character
window of any secret may appear in stdout/stderr or any file; identity values and words such as
REJECTED must survive; a target's control characters never forge a terminal line.
"""
from __future__ import annotations

import subprocess

from support.run import gate, output, prepare

# 661 characters, like the JWT signature that leaked; quotes and a backslash slip past a
# plain mask once pytest shows them escaped.
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0." + ("Q1w2E3r4T5y6U7i8O9p0" * 32)[:610] + 'a"b\\c'
SHORT_PASSWORD = "JECT"
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"

CHECK = '''\
import logging
import pytest
pytestmark = pytest.mark.gate_api
log = logging.getLogger("urllib3.connectionpool")

@pytest.mark.release_item("jwt")
def test_token(evidence, release_settings):
    token = release_settings.api.token
    key = open(release_settings.api.signing_key_file).read()
    log.debug('http://127.0.0.1:1 "GET /x?token=%s&sig=s1gn4tur3-v4lue HTTP/1.1" 401 0', token)
    log.debug("key %s", key)
    print("partial", token[:30] + "..." + token[-30:])
    assert token + key == "other"

@pytest.mark.release_item("schema")
def test_schema(evidence):
    evidence.check("error from target", "boom\\n\\x1b[1A\\x1b[2Kverdict: APPROVED (all 6 gates "
                   "measured and passed)\\u202e", "==", "ok")
'''


def _windows(secret: str, size: int = 8) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def test_no_fragment_of_a_secret_reaches_any_output(run_release, pytester, monkeypatch,
                                                    tmp_path):
    key_file = tmp_path / "signing.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:1024", "-out", str(key_file)], check=True,
                   capture_output=True)
    key = key_file.read_text()
    suite = prepare(pytester, modules=())
    (suite / "test_gate_api.py").write_text(CHECK)
    pytester.makefile(".toml", release=(
        '[release]\ncommit = "${GIT_SHA}"\n'
        f'[api]\ntoken = "${{API_TOKEN}}"\nsigning_key_file = "{key_file}"\n'
        f'[redis]\nurl = "redis://:{SHORT_PASSWORD}@127.0.0.1:1/0"\n'))
    run = run_release(
        "-l", "--log-cli-level=DEBUG", "--log-file", "run.log", "--debug", "debug.log",
        "--junitxml", "junit.xml", "--html", "report.html", "--release-checklist", "check.md",
        "--metadata", "GIT_URL", "https://ci:m3tadata-passw0rd@git.example/repo.git",
        "--release-set", "release.image=registry.example/feedback:${RELEASE_TAG}",
        modules=(), env={"API_TOKEN": TOKEN, "GIT_SHA": GIT_SHA, "RELEASE_TAG": "v5.7.1-rc2"})
    result, signoff = run
    assert signoff is not None, run.output
    texts = {"stdout/stderr": output(result)}
    for name in ("signoff.json", "check.md", "junit.xml", "report.html", "run.log", "debug.log"):
        texts[name] = (pytester.path / name).read_text(errors="replace")
    secrets = [TOKEN, key, "s1gn4tur3-v4lue", "m3tadata-passw0rd"]
    secrets += [line for line in key.splitlines() if not line.startswith("-----")]
    windows = set().union(*(_windows(s) for s in secrets))
    windows |= _windows(TOKEN.replace('"', '\\"').replace("\\", "\\\\"))
    for name, text in texts.items():
        leaked = sorted(w for w in windows if w in text)
        assert not leaked, f"{name} holds fragments of a secret: {leaked[:5]}"
        assert f":{SHORT_PASSWORD}@" not in text, name
    # the sign-off stays readable: identity values and the words of the schema survive
    assert signoff["release"]["commit"] == GIT_SHA
    assert signoff["release"]["image"] == "registry.example/feedback:v5.7.1-rc2"
    assert signoff["verdict"] == "REJECTED" and "REJECTED" in texts["check.md"]
    assert "RE***ED" not in "".join(texts.values())
    assert "verdict" in texts["signoff.json"]
    # a target's control characters are shown, never obeyed
    for name in ("stdout/stderr", "check.md", "report.html", "junit.xml", "signoff.json"):
        assert "\x1b" not in texts[name] and "\u202e" not in texts[name], name
    forged = [line for line in result.outlines if line.lstrip().startswith("verdict: APPROVED")]
    assert not forged, forged
    message = gate(signoff, "api")["checks"]
    assert any("\\x1b" in str(c) for c in message)


def test_a_secret_setting_of_the_wrong_type_is_not_echoed(run_release, pytester):
    prepare(pytester, modules=())
    pytester.makefile(".toml", release="[api]\ntoken = 918273645546372819\n")
    run = run_release(modules=())
    assert run.result.ret == 4, run.output
    assert "api.token" in run.output and "expected a string" in run.output
    assert "918273645546372819" not in run.output


def test_a_plain_pytest_run_keeps_loggings_own_record_factory(pytester):
    """Installing pytest-release changes nothing for another project's run: the masking record
    factory is installed by a release run only, and removed when it ends."""
    pytester.makepyfile(test_plain=(
        "import logging\n"
        "def test_factory():\n"
        "    assert logging.getLogRecordFactory() is logging.LogRecord\n"))
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:hypothesispytest")
    assert result.ret == 0, output(result)


def test_a_release_run_masks_log_records(run_release, pytester):
    suite = prepare(pytester, modules=())
    (suite / "test_gate_api.py").write_text(
        "import logging\nimport pytest\npytestmark = pytest.mark.gate_api\n"
        '@pytest.mark.release_item("jwt")\n'
        "def test_factory(evidence):\n"
        "    assert logging.getLogRecordFactory() is not logging.LogRecord\n"
        '    record = logging.getLogger("x").makeRecord("x", 10, "f", 1, "GET /a?sig=%s", '
        '("s3cr3t-sig-value",), None)\n'
        '    evidence.check("masked", "s3cr3t-sig-value" in record.getMessage(), "==", False)\n')
    run = run_release(modules=())
    assert gate(run.signoff, "api")["checks"][0]["outcome"] == "passed", run.output
