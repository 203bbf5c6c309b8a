"""Tiny raw files for the ETL tests, written as a producer would (churn contract columns)."""

from __future__ import annotations

from pathlib import Path

from prodml.etl.read import RawObject, format_of

HEADER = "customer_id,tenure_months,plan,monthly_spend,signup_date,region,support_tickets_90d,autopay,last_login_days,churned"
GOOD = [
    "C1,12,basic,50.5,2020-01-02T03:04:05Z,na,1,true,3,false",
    "C2,0, PRO ,,2021-06-30,EMEA,0,False,,true",
    "C3,600,Enterprise,1e3,2019-12-31 23:59:59,apac,200,1,3650,0",
]


def raw_file(tmp_path: Path, body: bytes | str, name: str = "raw.csv", order: int = 0) -> RawObject:
    path = tmp_path / name
    path.write_bytes(body.encode() if isinstance(body, str) else body)
    return RawObject(
        name=str(path),
        sha256=f"sha-{name}",
        size=path.stat().st_size,
        fmt=format_of(name),
        opener=lambda: path.open("rb"),
        order=order,
    )


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"
