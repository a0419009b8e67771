#!/usr/bin/env python3
"""Generates a large, realistic catalog for the local-catalog benchmark.

    generate.py OUT_DIR [ENTITIES]      (default 100000)

Writes OUT_DIR/gNNNN/catalog-info.yaml files of 100 documents each: groups, users, domains,
systems, components, APIs and resources in fixed proportions, with owners, systems,
provided/consumed APIs, dependencies and memberships pointing at each other, descriptions
drawn from a fixed vocabulary (deterministic: seeded), tags, links and annotations.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

WORDS = ("payment order invoice ledger catalog search index shipping inventory stock warehouse "
         "fraud risk scoring pricing discount loyalty account profile session token gateway proxy "
         "cache queue stream event audit report export import sync batch nightly realtime mobile "
         "web admin partner supplier carrier route tracking label refund chargeback settlement "
         "tax currency locale notification email sms push template render image thumbnail media").split()
LIFECYCLES = ("production", "production", "production", "experimental", "deprecated")
COMPONENT_TYPES = ("service", "service", "website", "library")
API_TYPES = ("openapi", "grpc", "asyncapi", "graphql")
RESOURCE_TYPES = ("database", "s3-bucket", "kafka-topic", "cache")
LANGS = ("java", "go", "python", "rust", "typescript", "kotlin")


def words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def main() -> None:
    out = Path(sys.argv[1])
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    rng = random.Random(42)
    n = {
        "Group": max(1, total // 200),
        "User": total // 10,
        "Domain": max(1, total // 2000),
        "System": max(1, total // 200),
        "API": total // 5,
        "Resource": total // 5,
    }
    n["Component"] = total - sum(n.values())
    docs: list[str] = []

    def meta(name: str, title: str, extra: str = "") -> str:
        return (f"apiVersion: backstage.io/v1alpha1\nmetadata:\n  name: {name}\n  title: {title}\n"
                f"  description: {words(rng, 8, 16).capitalize()}.\n"
                f"  tags: [{rng.choice(LANGS)}, {rng.choice(WORDS)}]\n{extra}")

    grp = lambda: f"team-{rng.randrange(n['Group'])}"  # noqa: E731
    for i in range(n["Group"]):
        parent = f"  parent: team-{(i - 1) // 10}\n" if i else ""
        docs.append(meta(f"team-{i}", f"Team {i}") + f"kind: Group\nspec:\n  type: team\n{parent}  children: []\n")
    for i in range(n["User"]):
        docs.append(meta(f"user-{i}", f"User {i}") + f"kind: User\nspec:\n  memberOf: [{grp()}]\n")
    for i in range(n["Domain"]):
        docs.append(meta(f"domain-{i}", f"Domain {i}") + f"kind: Domain\nspec:\n  owner: {grp()}\n")
    for i in range(n["System"]):
        docs.append(meta(f"system-{i}", f"System {i}")
                    + f"kind: System\nspec:\n  owner: {grp()}\n  domain: domain-{rng.randrange(n['Domain'])}\n")
    for i in range(n["API"]):
        docs.append(meta(f"api-{i}", f"API {i}") + f"kind: API\nspec:\n  type: {rng.choice(API_TYPES)}\n"
                    f"  lifecycle: {rng.choice(LIFECYCLES)}\n  owner: {grp()}\n  system: system-{rng.randrange(n['System'])}\n"
                    f"  definition: |\n    openapi: 3.0.0\n    info: {{title: API {i}, version: '1'}}\n")
    for i in range(n["Resource"]):
        docs.append(meta(f"resource-{i}", f"Resource {i}") + f"kind: Resource\nspec:\n  type: {rng.choice(RESOURCE_TYPES)}\n"
                    f"  owner: {grp()}\n  system: system-{rng.randrange(n['System'])}\n")
    for i in range(n["Component"]):
        ann = (f"  annotations:\n    backstage.io/techdocs-ref: dir:.\n    github.com/project-slug: acme/component-{i}\n"
               f"  links:\n    - url: https://dash.example/c/{i}\n      title: Dashboard\n")
        docs.append(meta(f"component-{i}", f"Component {i}", ann)
                    + f"kind: Component\nspec:\n  type: {rng.choice(COMPONENT_TYPES)}\n  lifecycle: {rng.choice(LIFECYCLES)}\n"
                    f"  owner: {grp()}\n  system: system-{rng.randrange(n['System'])}\n"
                    f"  providesApis: [api-{rng.randrange(n['API'])}]\n"
                    f"  consumesApis: [api-{rng.randrange(n['API'])}, api-{rng.randrange(n['API'])}]\n"
                    f"  dependsOn: [resource:resource-{rng.randrange(n['Resource'])}]\n")
    out.mkdir(parents=True, exist_ok=True)
    for f, start in enumerate(range(0, len(docs), 100)):
        d = out / f"g{f:04d}"
        d.mkdir(exist_ok=True)
        (d / "catalog-info.yaml").write_text("---\n".join(docs[start:start + 100]))
    print(f"{len(docs)} entities in {(len(docs) + 99) // 100} files under {out}")


if __name__ == "__main__":
    main()
