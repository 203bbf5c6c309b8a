"""The hashicorp/aws provider's schema, read from the CDK Terrain bindings on PyPI (cdktn-provider-aws), and
a checker of every `resource` and `data` block in a Terraform configuration against it.

`terraform validate` needs the provider binary, which cannot be downloaded here. The bindings are generated
from the provider's schema, and their wheel ships the jsii assembly they were generated as
(`_jsii/provider-aws@<version>.jsii.tgz`, whose first member is the `.jsii` JSON). Per resource and data
source it holds:
- the class, whose docs link names the Terraform type (`.../docs/resources/s3_bucket aws_s3_bucket`);
- a config struct: every settable argument, with its Terraform name in its docs anchor (`#target_bucket`),
  `optional` unless the schema requires it; a nested block's summary is exactly `<name> block.`, and its
  type is one struct when the block takes at most one (max_items 1 or nesting mode single), else a list;
- the class's (or nested block's `...OutputReference`) getters: the settable ones plus the computed-only
  attributes, which may be read but never set.
Not in the assembly, and not needed to validate a configuration: list versus set nesting (only in the
generated `lib/*/index.js`), a max_items other than 1, and the types of attribute values.
Not checked: what is inside an attribute's value, so nor inside the attributes a configuration may also
write as blocks (`ingress` of aws_security_group, `route` of aws_route_table); nor whether a block was
written with `=` (the installed python-hcl2 gives both as a list of dicts).

Never imports the bindings (that starts a Node.js jsii runtime) and never writes to them.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import json
import os
import re
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import hcl2

PACKAGE = "cdktn-provider-aws"
_ASSEMBLY = "@cdktn/provider-aws"

# A docs link in the assembly: {@link https://registry.terraform.io/providers/hashicorp/aws/6.69.1/docs/...}
_DOCS_LINK = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/hashicorp/aws/([^/]+)/docs([^ ]*) ([^}]+)\}"
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Terraform's own arguments and blocks, allowed in every resource (data source) whatever its schema.
# Their content is Terraform's, not the provider's, so it is not checked here.
META_ARGUMENTS = {
    "resource": frozenset({"count", "for_each", "provider", "depends_on"}),
    "data": frozenset({"count", "for_each", "provider", "depends_on"}),
}
META_BLOCKS = {
    "resource": frozenset({"lifecycle", "provisioner", "connection"}),
    "data": frozenset({"lifecycle"}),
}
# `dynamic "<block>" { ... }`: what may be written in it (for_each and content must be).
DYNAMIC_ARGUMENTS = frozenset({"for_each", "iterator", "labels", "content"})
# Types that belong to no provider (built into Terraform) and so have no schema to check against.
BUILTIN_TYPES = frozenset({"terraform_data"})


# ---------------------------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockSchema:
    """What may be written in one block body: a resource's, a data source's or a nested block's."""

    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    computed: frozenset[str] = frozenset()  # computed-only: the provider sets them, a configuration may not
    blocks: Mapping[str, NestedBlock] = field(default_factory=dict)

    @property
    def arguments(self) -> frozenset[str]:
        return self.required | self.optional


@dataclass(frozen=True)
class NestedBlock:
    block: BlockSchema
    min_items: int  # 1 when the schema requires the block
    max_items: int | None  # 1 when at most one is allowed; None when the assembly says "a list"


@dataclass(frozen=True)
class ProviderSchema:
    provider_version: str  # hashicorp/aws version the bindings were generated from
    package: str  # the distribution and version it was read from
    resources: Mapping[str, BlockSchema] = field(repr=False)
    data_sources: Mapping[str, BlockSchema] = field(repr=False)


def assembly_path() -> tuple[str, Path]:
    """(package==version, path) of the installed bindings' jsii assembly tarball."""
    dist = metadata.distribution(PACKAGE)
    for file in dist.files or ():
        if file.name.endswith(".jsii.tgz"):
            return f"{PACKAGE}=={dist.version}", Path(str(dist.locate_file(file)))
    raise FileNotFoundError(f"{PACKAGE} {dist.version} ships no *.jsii.tgz")


def read_assembly(tarball: Path) -> dict[str, Any]:
    """The `.jsii` JSON. It is the tarball's first member, so the generated JS after it is never inflated."""
    with gzip.open(tarball) as stream:
        header = tarfile.TarInfo.frombuf(stream.read(tarfile.BLOCKSIZE), "utf-8", "surrogateescape")
        if header.name != "package/.jsii":
            raise ValueError(f"{tarball}: first member is {header.name!r}, not package/.jsii")
        assembly: dict[str, Any] = json.loads(stream.read(header.size))
        return assembly


def load_provider_schema(cache_dir: Path | None = None) -> ProviderSchema:
    """The installed bindings' schema. Reading the assembly takes seconds (a 155 MB JSON document), so the
    schema is kept in `cache_dir`, under a name that changes with the bindings' version and this file."""
    package, tarball = assembly_path()
    if cache_dir is None:
        return schema_from_assembly(read_assembly(tarball), package)
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    cached = cache_dir / f"{package.replace('==', '-')}-{source}.json"
    if cached.exists():
        return schema_from_json(json.loads(cached.read_text()))
    schema = schema_from_assembly(read_assembly(tarball), package)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(schema_to_json(schema), separators=(",", ":")))
    partial.replace(cached)  # atomic: a concurrent run reads the whole file or none of it
    for stale in cache_dir.glob("*.json"):
        if stale != cached:
            stale.unlink(missing_ok=True)
    return schema


def schema_from_assembly(assembly: Mapping[str, Any], package: str) -> ProviderSchema:
    types: Mapping[str, Any] = assembly["types"]
    resources: dict[str, BlockSchema] = {}
    data_sources: dict[str, BlockSchema] = {}
    provider_versions: set[str] = set()
    built: dict[str, BlockSchema] = {}
    kinds = {"cdktn.TerraformResource": resources, "cdktn.TerraformDataSource": data_sources}
    for jsii_type in types.values():
        found = kinds.get(jsii_type.get("base", ""))
        if found is None:
            continue
        link = _DOCS_LINK.search(jsii_type["docs"].get("summary", ""))
        if link is None:
            raise ValueError(f"{jsii_type['fqn']}: no registry docs link names its Terraform type")
        provider_versions.add(link.group(1))
        config = next(p for p in jsii_type["initializer"]["parameters"] if p["name"] == "config")
        found[link.group(3)] = _block(types, config["type"]["fqn"], jsii_type, built)
    if len(provider_versions) != 1:
        raise ValueError(f"docs links name several provider versions: {sorted(provider_versions)}")
    return ProviderSchema(provider_versions.pop(), package, resources, data_sources)


def _block(
    types: Mapping[str, Any],
    struct_fqn: str,
    getters_type: Mapping[str, Any] | None,
    built: dict[str, BlockSchema],
) -> BlockSchema:
    """The schema of a config struct; `built` holds those already read, as a few structs nest themselves."""
    if struct_fqn in built:
        return built[struct_fqn]
    required: set[str] = set()
    optional: set[str] = set()
    nested_blocks: list[tuple[str, str, int, int | None]] = []
    settable: set[str] = set()
    for prop in _struct_properties(types, struct_fqn):
        settable.add(prop["name"])
        name = _terraform_name(prop)
        nested = _nested_struct(prop["type"])
        if nested is not None and prop["docs"].get("summary") == f"{name} block.":
            min_items = 0 if prop.get("optional") else 1
            max_items = 1 if "fqn" in prop["type"] else None
            nested_blocks.append((name, nested, min_items, max_items))
        else:
            (optional if prop.get("optional") else required).add(name)
    computed = {
        _snake(prop["name"])
        for prop in (getters_type or {}).get("properties", [])
        if not prop.get("static")
        and prop["name"] not in settable
        and not prop["name"].endswith("Input")
        and prop["name"] != "internalValue"
    }
    blocks: dict[str, NestedBlock] = {}
    schema = built[struct_fqn] = BlockSchema(
        frozenset(required), frozenset(optional), frozenset(computed), blocks
    )
    for name, nested, min_items, max_items in nested_blocks:
        outputs = types.get(f"{nested}OutputReference")
        blocks[name] = NestedBlock(_block(types, nested, outputs, built), min_items, max_items)
    return schema


def _struct_properties(types: Mapping[str, Any], fqn: str) -> Iterator[Mapping[str, Any]]:
    struct = types[fqn]
    yield from struct.get("properties", [])
    # cdktn.TerraformMetaArguments (count, for_each, ...) is Terraform's, not the provider's.
    for parent in struct.get("interfaces", []):
        if parent.startswith(f"{_ASSEMBLY}."):
            yield from _struct_properties(types, parent)


def _terraform_name(prop: Mapping[str, Any]) -> str:
    """The anchor of the property's docs link (`...#target_bucket Class#target_bucket`) is its schema name."""
    docs = prop["docs"]
    for text in (docs.get("summary", ""), docs.get("remarks", "")):
        for link in _DOCS_LINK.finditer(text):
            anchor = link.group(2).rpartition("#")[2]
            if anchor:
                return anchor
    return _snake(prop["name"])


def _nested_struct(jsii_type: Mapping[str, Any]) -> str | None:
    """The provider struct a property is typed with (one, or the element of a list), if any."""
    if "fqn" in jsii_type:
        return jsii_type["fqn"] if jsii_type["fqn"].startswith(f"{_ASSEMBLY}.") else None
    if "collection" in jsii_type:
        return _nested_struct(jsii_type["collection"]["elementtype"])
    for member in jsii_type.get("union", {}).get("types", []):
        if (found := _nested_struct(member)) is not None:
            return found
    return None


def _snake(camel: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", camel).lower()


def schema_to_json(schema: ProviderSchema) -> dict[str, Any]:
    """A JSON document of the schema; block bodies by number, as a few of them contain themselves."""
    numbers: dict[int, int] = {}
    bodies: list[dict[str, Any]] = []

    def number(block: BlockSchema) -> int:
        if id(block) not in numbers:
            numbers[id(block)] = len(bodies)
            body: dict[str, Any] = {
                "required": sorted(block.required),
                "optional": sorted(block.optional),
                "computed": sorted(block.computed),
            }
            bodies.append(body)
            body["blocks"] = {
                name: [number(nested.block), nested.min_items, nested.max_items]
                for name, nested in sorted(block.blocks.items())
            }
        return numbers[id(block)]

    return {
        "provider_version": schema.provider_version,
        "package": schema.package,
        "resources": {name: number(block) for name, block in sorted(schema.resources.items())},
        "data_sources": {name: number(block) for name, block in sorted(schema.data_sources.items())},
        "bodies": bodies,
    }


def schema_from_json(document: Mapping[str, Any]) -> ProviderSchema:
    nested_blocks: list[dict[str, NestedBlock]] = [{} for _ in document["bodies"]]
    blocks = [
        BlockSchema(
            frozenset(body["required"]), frozenset(body["optional"]), frozenset(body["computed"]), nested
        )
        for body, nested in zip(document["bodies"], nested_blocks, strict=True)
    ]
    for body, nested in zip(document["bodies"], nested_blocks, strict=True):
        for name, (number, min_items, max_items) in body["blocks"].items():
            nested[name] = NestedBlock(blocks[number], min_items, max_items)
    return ProviderSchema(
        document["provider_version"],
        document["package"],
        {name: blocks[number] for name, number in document["resources"].items()},
        {name: blocks[number] for name, number in document["data_sources"].items()},
    )


# ---------------------------------------------------------------------------------------------------------
# Checker
# ---------------------------------------------------------------------------------------------------------


def terraform_files(*directories: Path) -> list[Path]:
    """Every .tf file under the directories, leaving out `terraform init`'s .terraform/ downloads."""
    return sorted(
        path
        for directory in directories
        for path in directory.rglob("*.tf")
        if ".terraform" not in path.relative_to(directory).parts
    )


def blocks_in(paths: Iterable[Path]) -> Iterator[tuple[Path, str, str, str, Mapping[str, Any]]]:
    """(file, "resource" or "data", type, name, body) of every resource and data block in the files."""
    for path in paths:
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for kind in ("resource", "data"):
            for labelled in parsed.get(kind, []):
                for rtype, named in labelled.items():
                    for name, body in named.items():
                        yield path, kind, _label(rtype), _label(name), body


def check_files(paths: Iterable[Path], schema: ProviderSchema, relative_to: Path) -> list[str]:
    return check_blocks(blocks_in(paths), schema, relative_to)


def check_blocks(
    blocks: Iterable[tuple[Path, str, str, str, Mapping[str, Any]]], schema: ProviderSchema, relative_to: Path
) -> list[str]:
    """`file:type.name: problem` for every block (a data block's address is `data.type.name`)."""
    findings: list[str] = []
    for path, kind, rtype, name, body in blocks:
        shown = path.relative_to(relative_to) if path.is_relative_to(relative_to) else path
        address = f"{rtype}.{name}" if kind == "resource" else f"data.{rtype}.{name}"
        by_type = schema.resources if kind == "resource" else schema.data_sources
        findings.extend(
            f"{shown}:{address}: {problem}" for problem in check_block(kind, rtype, body, by_type)
        )
    return findings


def check_block(
    kind: str, rtype: str, body: Mapping[str, Any], by_type: Mapping[str, BlockSchema]
) -> list[str]:
    if rtype in BUILTIN_TYPES:
        return []
    if not rtype.startswith("aws_"):
        return [f"no schema for {rtype}'s provider here (only hashicorp/aws is checked)"]
    if rtype not in by_type:
        noun = "resource type" if kind == "resource" else "data source"
        return [f"unknown {noun} {rtype}{_did_you_mean(rtype, by_type)}"]
    problems: list[str] = []
    _check_body(body, by_type[rtype], "", problems, META_ARGUMENTS[kind], META_BLOCKS[kind])
    return problems


def _check_body(
    body: Mapping[str, Any],
    schema: BlockSchema,
    path: str,
    problems: list[str],
    meta_arguments: frozenset[str] = frozenset(),
    meta_blocks: frozenset[str] = frozenset(),
) -> None:
    written: dict[str, int] = {}  # block name -> how many written literally
    dynamic: set[str] = set()
    for key, value in body.items():
        if key.startswith("__") or key in meta_arguments or key in meta_blocks:
            continue  # python-hcl2's __start_line__ and friends; Terraform's own arguments
        if key == "dynamic":
            for name, dynamic_body in _labelled(value):
                _check_dynamic(name, dynamic_body, schema, path, problems)
                dynamic.add(name)
        elif key in schema.blocks:
            bodies = _bodies(value)
            if bodies is None:
                problems.append(f"{path}{key}: is a block, written `{key} {{ ... }}`, not an argument")
                continue
            written[key] = len(bodies)
            for nested_body in bodies:
                _check_body(nested_body, schema.blocks[key].block, f"{path}{key}.", problems)
        elif key in schema.arguments:
            continue
        elif key in schema.computed:
            problems.append(f"{path}{key}: computed-only attribute, set by the provider, cannot be set")
        else:
            known = schema.arguments | schema.blocks.keys()
            problems.append(f"{path}{key}: unknown argument or block{_did_you_mean(key, known)}")
    for name in sorted(schema.required - body.keys()):
        problems.append(f"{path}{name}: required argument missing")
    for name, nested in sorted(schema.blocks.items()):
        count = written.get(name, 0)
        if nested.min_items and not count and name not in dynamic:
            problems.append(f"{path}{name}: required block missing")
        if nested.max_items is not None and count > nested.max_items:
            problems.append(f"{path}{name}: at most {nested.max_items} allowed, {count} written")


def _check_dynamic(
    name: str, body: Mapping[str, Any], schema: BlockSchema, path: str, problems: list[str]
) -> None:
    if name not in schema.blocks:
        known = schema.blocks.keys()
        why = "is an argument, not a block" if name in schema.arguments else "unknown block"
        problems.append(f'{path}dynamic "{name}": {why}{_did_you_mean(name, known)}')
        return
    for key in body.keys() - DYNAMIC_ARGUMENTS:
        if not key.startswith("__"):
            problems.append(f'{path}dynamic "{name}".{key}: not allowed in a dynamic block')
    for key in ("for_each", "content"):
        if key not in body:
            problems.append(f'{path}dynamic "{name}": {key} missing')
    for content in _bodies(body.get("content", [])) or []:
        _check_body(content, schema.blocks[name].block, f"{path}{name}.", problems)


def _bodies(value: Any) -> list[Mapping[str, Any]] | None:
    """The bodies of a block written once or several times (python-hcl2 gives a list of dicts)."""
    items = value if isinstance(value, list) else [value]
    return items if all(isinstance(item, Mapping) for item in items) else None


def _labelled(value: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(label, body) of each `dynamic "<label>" { ... }`."""
    for item in value if isinstance(value, list) else [value]:
        for label, body in item.items():
            if not label.startswith("__"):
                yield _label(label), body


def _label(label: str) -> str:
    """python-hcl2 8 keeps a block label's quotes (`"aws_s3_bucket"`); the checkov fork, also named hcl2 and
    installed over it, drops them. Either may be the one imported."""
    return label.removeprefix('"').removesuffix('"')


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
