"""The simulated world: results are deterministic functions of the arguments, never constants."""

from training.data.world import World


def test_same_seed_same_results_other_seed_other_world():
    a, b, c = World(0), World(0), World(1)
    path = a.paths[0]
    assert a.call("read_file", {"path": path}) == b.call("read_file", {"path": path})
    assert a.docs == b.docs and a.docs != c.docs


def test_results_follow_the_arguments():
    w = World(0)
    src = [p for p in w.paths if p.startswith("src/")]
    r1, r2 = (w.call("read_file", {"path": p}) for p in src[:2])
    assert r1["ok"] and r2["ok"] and r1["content"] != r2["content"]
    assert r1["lines"] == r1["content"].count("\n") + 1
    s1 = w.call("web.search", {"q": "retry budgets auth"})
    s2 = w.call("web.search", {"q": "cache eviction billing", "top_k": 5})
    assert s1["results"] != s2["results"] and s2["count"] == 5
    only_org = w.call("web.search", {"q": "rate limits", "site": "example.org", "top_k": 10})
    assert only_org["count"] and all("example.org" in r["url"] for r in only_org["results"])
    excluded = w.call("web.search", {"q": "rate limits auth", "exclude": ["auth"], "top_k": 10})
    assert all("auth" not in r["title"].lower() for r in excluded["results"])


def test_grep_and_line_ranges_are_computed_from_the_file():
    w = World(0)
    path = next(p for p in w.paths if p.startswith("src/"))
    text = w.file(path)
    hits = w.call("repo.read", {"path": path, "grep": {"pattern": "DEF", "ignore_case": True}})
    assert hits["count"] == sum("def" in ln.lower() for ln in text.split("\n"))
    rng = w.call("repo.read", {"path": path, "lines": [2, 3]})
    assert rng["content"] == "\n".join(text.split("\n")[1:3])
    assert w.call("repo.read", {"path": path, "lines": [5, 2]})["error"] == "bad_range"


def test_the_sandbox_computes_outputs_and_enforces_timeouts():
    w = World(0)
    run = lambda **a: w.call("code.execute", a)  # noqa: E731
    assert run(language="python", code="print(sum(range(3, 10)))")["stdout"] == str(sum(range(3, 10)))
    assert run(language="bash", code="echo $(( 12 * 34 ))")["stdout"] == "408"
    argv = run(language="python", code="import sys; print(sum(int(x) for x in sys.argv[1:]))", argv=["4", "5"])
    assert argv["stdout"] == "9"
    env = run(language="bash", code='echo "$GREETING, auth"', env={"GREETING": "Hola"})
    assert env["stdout"] == "Hola, auth"
    slow = "import time; time.sleep(2); print('done')"
    assert run(language="python", code=slow, timeout_ms=1000)["error"] == "timeout"
    assert run(language="python", code=slow, timeout_ms=4000)["stdout"] == "done"
    assert run(language="bash", code="print(sum(range(3, 10)))")["error"] == "unsupported_program"


def test_failures_are_results_not_exceptions():
    w = World(0)
    assert w.call("read_file", {"path": "src/nope.py"})["error"] == "not_found"
    assert w.call("read_file", {"path": "secrets/prod.env"})["error"] == "permission_denied"
    assert w.call("web.open", {"url": "https://example.org/missing"})["error"] == "http_404"
    assert w.call("web.search", {"q": "x", "top_k": 0})["error"] == "invalid_arguments"
    assert w.call("no.such.tool", {})["error"] == "unknown_tool"
