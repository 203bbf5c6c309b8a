"""What every command shares: the console, contract loading, and turning known failures into one clear line."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from rich.console import Console

from prodml.contract import Contract, ContractError, load_contract
from prodml.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)

ContractOption = Annotated[
    Path,
    typer.Option(
        "--contract", "-c", help="Data contract YAML (the only place columns are named).", show_default=True
    ),
]
DEFAULT_CONTRACT = Path("contracts/customer_churn.yaml")
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]


def print_json(document: object) -> None:
    """Machine-readable output on stdout, alone (progress and logs are off with --json)."""
    import json
    import sys

    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


class UserError(Exception):
    """A failure the user can fix; printed as one line, never as a traceback."""


# Expected failures from any stage. Stage modules add theirs with `register_user_errors`.
USER_ERRORS: list[type[BaseException]] = [UserError, ContractError, LookupError, FileNotFoundError]


def register_user_errors(*errors: type[BaseException]) -> None:
    USER_ERRORS.extend(errors)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def handle_errors(fn):
    """Known failures exit non-zero with one clear line; AWS connectivity problems say where we looked."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except EndpointConnectionError as exc:
            settings = get_settings()
            hint = (
                "start the emulator with `prodml emulator up`"
                if settings.is_local_endpoint
                else "check AWS_ENDPOINT_URL and your network"
            )
            raise fail(
                f"cannot reach AWS at {exc.kwargs.get('endpoint_url', settings.endpoint_url)}: {hint}"
            ) from None
        except NoCredentialsError:
            raise fail(
                "no AWS credentials found. For the embedded emulator export AWS_ENDPOINT_URL=http://127.0.0.1:4566; "
                "for real AWS configure a profile (aws configure) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise fail(
                f"AWS said {error.get('Code')}: {error.get('Message')} ({exc.operation_name})"
            ) from None
        except tuple(USER_ERRORS) as exc:
            raise fail(str(exc)) from None

    return wrapper


def contract_from(path: Path) -> Contract:
    return load_contract(path)


def settings() -> Settings:
    return get_settings()


def endpoint_label(s: Settings) -> str:
    if s.is_real_aws:
        return f"real AWS ({s.region})"
    return f"{s.endpoint_url} ({'embedded emulator' if s.is_local_endpoint else 'custom endpoint'})"
