"""Hypothesis over HTTP bodies sent to a real server's /graphql: JSON (valid and
broken), multipart (the upload spec's `operations` / `map` / file parts) and
urlencoded forms. Whatever arrives, the answer is never a 500, always JSON, and the
server logs no traceback."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Server

EXAMPLES = int(os.environ.get("IMGFLOW_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
queries = st.sampled_from(
    ["{ me { id } }", "query A { me { id } } query B { me { id } }", "{", "", "mutation { x }"]
)
requests = st.fixed_dictionaries(
    {},
    optional={
        "query": queries | json_values,
        "variables": json_values,
        "operationName": st.text(max_size=5) | json_values,
        "extensions": json_values,
    },
)
paths = st.lists(st.sampled_from(["variables", "file", "0", "query", "x", "1"]), max_size=4)
maps = (
    st.dictionaries(
        st.sampled_from(["0", "1", "file"]), st.lists(paths.map(".".join), max_size=2)
    ).map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=10)
)


def bodies() -> st.SearchStrategy[dict[str, Any]]:
    as_json = (requests | json_values).map(
        lambda v: {"content": json.dumps(v), "headers": {"content-type": "application/json"}}
    )
    raw = st.binary(max_size=200).map(
        lambda b: {"content": b, "headers": {"content-type": "application/json"}}
    )
    multipart = st.fixed_dictionaries(
        {
            "data": st.fixed_dictionaries(
                {},
                optional={
                    "operations": (requests | json_values).map(json.dumps) | st.text(max_size=10),
                    "map": maps,
                },
            ),
            "files": st.dictionaries(st.sampled_from(["0", "1", "x"]), st.binary(max_size=20)),
        }
    ).filter(lambda form: bool(form["data"]) or bool(form["files"]))
    urlencoded = st.dictionaries(st.sampled_from(["query", "operations", "map"]), st.text()).map(
        lambda fields: {"data": fields}
    )
    return as_json | raw | multipart | urlencoded


@FUZZ
@given(body=bodies())
def test_no_body_gets_a_500(server: Server, body: dict[str, Any]) -> None:
    response = httpx.post(f"{server.base_url}/graphql", timeout=30, **body)
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert "Traceback" not in server.log()
