"""The command line through main(argv): flags, environment, refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from awsme.cli import main, parse_settings
from awsme.settings import MODES, declared_settings, env_name, flag_name
from awsme.version import VERSION
from tests.loopback import closed_port_url, serve


@pytest.mark.parametrize(
    "argv",
    [
        ["-port=8081"],
        ["-port", "8081"],
        ["--port=8081"],
        ["--port", "8081"],
    ],
)
def test_go_and_gnu_styles(argv: list[str]) -> None:
    settings, _ = parse_settings(argv, {})
    assert settings.port == 8081


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-run-migrations"], True),
        (["-run-migrations=true"], True),
        (["--run-migrations=false"], False),
        (["-run-migrations=0"], False),
        ([], False),
    ],
)
def test_booleans(argv: list[str], expected: bool) -> None:
    settings, _ = parse_settings(argv, {})
    assert settings.run_migrations is expected


def test_the_workshops_command_lines() -> None:
    backend, _ = parse_settings(
        ["-mode=backend", "-run-migrations", "-port=8081", "-db-host=db", "-db-password=root"], {}
    )
    assert (backend.mode, backend.port, backend.run_migrations) == ("backend", 8081, True)
    assert (backend.db_host, backend.db_password) == ("db", "root")
    assert {"db_host", "db_password"} <= backend.given
    frontend, _ = parse_settings(["-mode=frontend", "-backend-service=http://backend:8081"], {})
    assert frontend.backend_service == "http://backend:8081"


def test_environment_and_flag_precedence() -> None:
    environ = {"AWSME_PORT": "9000", "AWSME_DB_PASSWORD": "from-env", "AWSME_WORKERS": "3"}
    settings, _ = parse_settings(["-port=9001"], environ)
    assert settings.port == 9001  # the flag wins
    assert settings.db_password == "from-env" and settings.workers == 3
    assert "db_password" in settings.given


def test_defaults() -> None:
    settings, _ = parse_settings([], {})
    assert (settings.port, settings.listen_host, settings.backend_port) == (8080, "0.0.0.0", 8081)
    assert settings.backend_service == "http://127.0.0.1:8081"
    assert (settings.db_host, settings.db_port, settings.db_user) == ("db", 3306, "root")
    assert (settings.db_name, settings.metadata) == ("sample_app", "auto")
    assert settings.given == frozenset()
    imds, _ = parse_settings(["-mode=imds"], {})
    assert imds.listen_host == "127.0.0.1"  # the simulator stays on loopback unless told


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-version"], {}) == 0
    assert capsys.readouterr().out == f"Version {VERSION}\n"


def test_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-help"], {}) == 0
    out = capsys.readouterr().out
    for spec in declared_settings():
        assert f"  -{flag_name(spec)}" in out, spec.name
        assert f"${env_name(spec)}" in out, spec.name
        assert spec.metadata["help"] in out, spec.name


def test_version_false_does_not_print(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-version=false", "-help=false", "-mode=nope"], {}) == 2
    assert "Version" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["-port=abc"], {}, 'invalid value "abc" for flag -port: not a whole number'),
        (["-port=70000"], {}, 'invalid value "70000" for flag -port: out of range'),
        (["-port=0"], {}, "out of range"),
        ([], {"AWSME_PORT": "x"}, 'invalid value "x" for AWSME_PORT'),
        (["-run-migrations=maybe"], {}, "not a boolean"),
        (["-metadata=aws"], {}, "should be one of auto, ec2"),
        (["-metadata-endpoint=http://[::1"], {}, "not a valid URL"),
        (["-backend-service=http://[zz]:80"], {}, "not a valid URL"),
        (["-backend-service=http://backend:99999"], {}, "not a valid URL"),
        (["-backend-service=backend:8081"], {}, "not an http:// or https:// URL"),
        (["-fail-percent=101"], {}, "out of range"),
        (["-delay=nan"], {}, "out of range"),
        (["-no-such-flag=1"], {}, "flag provided but not defined: -no-such-flag"),
        (["backend"], {}, "unexpected argument: backend"),
        (["-port"], {}, "expected one argument"),
        (["-ui-color=notacolor"], {}, 'invalid value "notacolor" for flag -ui-color: not a CSS'),
        (["-ui-color=red;}body{x:y"], {}, "not a CSS colour"),
        (["-ui-color=#12345"], {}, "not a CSS colour"),
        ([], {"AWSME_UI_COLOR": "url(x)"}, 'invalid value "url(x)" for AWSME_UI_COLOR'),
        (["-ui-message=" + "x" * 121], {}, "longer than 120 characters (121)"),
        (["-ui-message=\x1b[31mred"], {}, "contains control characters"),
    ],
)
def test_refusals_are_one_line(
    argv: list[str], environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Were a refusal to fail, the backend would only ever see loopback and simulation.
    assert main(["-mode=backend", "-metadata=simulated", "-host=127.0.0.1", *argv], environ) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-mode=sidecar"], {}) == 2
    err = capsys.readouterr().err
    assert err.startswith("Unknown mode: sidecar, should be either backend or frontend")


def test_no_arguments_print_the_usage_and_point_to_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([], {}) == 2
    err = capsys.readouterr().err
    assert err == (
        "Usage: app -mode=backend|frontend|standalone|imds|check|load [flags]\n"
        "Run app -help to see every mode and flag.\n"
    )


def test_help_lists_every_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-help"], {}) == 0
    out = capsys.readouterr().out
    modes = out.split("Modes:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split()[0] for line in modes] == [*MODES, "(none)"]


def test_a_source_that_cannot_work_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-mode=backend", "-metadata=ecs", "-host=127.0.0.1"], {}) == 2
    assert "ECS_CONTAINER_METADATA_URI_V4" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://[::1"}, "AWS_EC2_METADATA_SERVICE_ENDPOINT"),
        ({"ECS_CONTAINER_METADATA_URI_V4": "not a url"}, "ECS_CONTAINER_METADATA_URI_V4"),
        ({"GCE_METADATA_HOST": "a b:c"}, "GCE_METADATA_HOST"),
    ],
)
def test_malformed_endpoint_variables_are_refused(
    environ: dict[str, str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["-mode=backend", "-host=127.0.0.1", f"-dmi-dir={tmp_path}"]
    assert main(argv, environ) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("app: ") and message in err.splitlines()[-1]
    assert "Traceback" not in err


def test_simulator_refuses_workers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-mode=imds", "-workers=2"], {}) == 2
    assert "-workers=1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("teal", "#008080"),
        ("RebeccaPurple", "#663399"),
        ("#ABC", "#aabbcc"),
        ("#7c3aed", "#7c3aed"),
        ("#7c3aed80", "#7c3aed80"),
        ("", ""),
    ],
)
def test_ui_color_takes_css_colours(text: str, expected: str) -> None:
    settings, _ = parse_settings([f"-ui-color={text}"], {})
    assert settings.ui_color == expected


def test_ui_message_is_one_line() -> None:
    settings, _ = parse_settings(["-ui-message", "  rollout\n  <b>v2</b>  "], {})
    assert settings.ui_message == "rollout <b>v2</b>"  # escaped where it is shown
    settings, _ = parse_settings([], {"AWSME_UI_MESSAGE": "x" * 120})
    assert len(settings.ui_message) == 120


def _check(url: str, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str]:
    code = main(["-mode=check", f"-url={url}", *flags], {})
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_check_mode_speaks_in_sentences(capsys: pytest.CaptureFixture[str]) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        slow = scope["path"] == "/slow"
        if slow:
            await asyncio.sleep(3)
        status = 200 if scope["path"] == "/ok" else 503
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"database: schema missing\n"})

    with serve(app) as server:
        assert _check(server.url + "/ok", capsys) == (
            0,
            f"Check passed: {server.url}/ok answered 200 OK.\n",
        )
        assert _check(server.url + "/healthz", capsys) == (
            1,
            f"Check failed: {server.url}/healthz answered 503 Service Unavailable, "
            "saying: database: schema missing.\n",
        )
        assert _check(server.url + "/slow", capsys, "-check-timeout=0.2") == (
            1,
            f"Check failed: {server.url}/slow did not answer within 0.2s.\n",
        )
    closed = closed_port_url()
    assert _check(closed, capsys) == (
        1,
        f"Check failed: could not connect to {closed} (connection refused).\n",
    )
    assert main(["-mode=check"], {}) == 2
    assert capsys.readouterr().err == (
        "app: -mode=check needs -url, for example -url=http://127.0.0.1:8080/healthz.\n"
    )


def test_huge_numbers_in_flags_are_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-mode=backend", "-port=" + "9" * 5000], {}) == 2  # past int()'s 4,300 digits
    assert "out of range (1 to 65535)" in capsys.readouterr().err
    assert main(["-mode=backend", "-workers=" + "0" * 5000 + "2", "-version"], {}) == 0
