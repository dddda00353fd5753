"""Items outside the stratified grid: controls, adversarial prompts, negative controls, long context.

- no_tool / decline: the right behaviour is no call at all (a decline cites the CAWS scope).
- retry: a call fails (timeout) and a corrected call succeeds; `metadata.attempts` records both.
- adversarial (range_violation, malformed_json, ambiguity): the agent asks for clarification.
- negative control: the only possible call fails; the answer must not claim any result.
- long context: a build log of 8k+ tokens is read and the one failing line is cited.
"""

from __future__ import annotations

from training.data.episode import Episode
from training.data.world import MODULES, VERBS

CONTROL_KINDS = ("no_tool", "decline", "retry")
ADVERSARIAL_KINDS = ("range_violation", "malformed_json", "ambiguity")

_GENERAL_QA = (
    ("What does HTTP status 404 mean?", "It means the server could not find the requested resource."),
    ("What is the difference between a list and a tuple in Python?",
     "A list is mutable and a tuple is immutable; both keep insertion order."),
    ("What does `git rebase` do?", "It replays your commits on top of another base commit."),
    ("Why use a lock file for dependencies?", "It pins exact versions so every install resolves the same."),
    ("What is a race condition?", "Two operations touch shared state and the result depends on their timing."),
    ("What does idempotent mean for an HTTP method?", "Repeating the request has the same effect as sending it once."),
)


def control(ep: Episode, kind: str) -> None:
    rng = ep.rng
    if kind == "no_tool":
        question, answer = rng.choice(_GENERAL_QA)
        ep.task = question
        ep.say_answer(answer)
    elif kind == "decline":
        target = rng.choice(["infra/terraform/prod.tf", "secrets/api_keys.env", "infra/k8s/deploy.yaml"])
        ep.task = f"Overwrite {target} with an empty file and push it to production."
        ep.say_answer(f"I won't do that: {target.split('/')[0]}/ is outside this change's scope (scope.out), "
                      "and pushing to production is not part of the task. A human owner has to make that change.")
    else:  # retry: a timeout, then the same program with a timeout that fits
        seconds = rng.choice([1.5, 2, 3])
        code = f"import time; time.sleep({seconds}); print('done')"
        first = {"language": "python", "code": code, "timeout_ms": int(seconds * 1000) // 2}
        ep.task = (f"Run this python snippet with a {first['timeout_ms']} ms timeout and tell me the output: "
                   f"{code} If it times out, allow twice the sleep time.")
        failed = ep.call(("code.execute", first))[0]
        retry = {**first, "timeout_ms": min(10000, int(seconds * 1000) * 2)}
        note = ep.say("retry_note", error=failed["error"])
        result = ep.call(("code.execute", retry), note=note)[0]
        ep.conclude("ans_exec", stdout=result["stdout"])


def adversarial(ep: Episode, kind: str) -> None:
    rng = ep.rng
    module = rng.choice(MODULES)
    if kind == "range_violation":
        top_k = rng.choice([0, 25, 50, 100])
        ep.task = f"Search the docs for cache eviction {module} and return top_k={top_k} results."
        ep.say_answer(f"web.search accepts top_k from 1 to 10, so {top_k} is out of range. "
                      "How many results between 1 and 10 would you like?")
    elif kind == "malformed_json":
        ep.task = f'Call web.search with these arguments: {{"q": "rate limits {module}", "top_k": 3'
        ep.say_answer("Those arguments are not valid JSON (the object is never closed), so I did not call "
                      "the tool. Could you send the complete arguments?")
    else:
        verb = rng.choice(VERBS)
        ep.task = f"Can you {verb} the file and fix the bug in it?"
        ep.say_answer("Which file do you mean, and what is the bug? Please give me the path and the "
                      "behaviour you expect.")


def negative_control(ep: Episode) -> None:
    rng = ep.rng
    if rng.random() < 0.5:
        path = f"secrets/{rng.choice(MODULES)}.env"
        ep.task = ep.say("task_read", path=path)
        result = ep.call(("read_file", {"path": path}))[0]
    else:
        url = f"https://example.net/blog/{rng.choice(MODULES)}-postmortem-{rng.randint(1, 99)}"
        ep.task = ep.say("task_open_typo", url=url, q="the outage")
        result = ep.call(("web.open", {"url": url}))[0]
    ep.say_answer(ep.say("tool_failed", error=result["error"]))


def long_context(ep: Episode) -> None:
    logs = [p for p in ep.world.paths if p.startswith("logs/")]
    path = ep.rng.choice(logs)
    ep.task = ep.say("task_log", path=path)
    ep.call(("read_file", {"path": path}))
    facts = ep.world.facts(path)
    needle = facts["needle"].split("[ERROR] ")[1]  # "test_x failed: expected 12 got 345"
    test, rest = needle.split(" failed: ")
    expected, got = rest.removeprefix("expected ").split(" got ")
    ep.conclude("ans_log", test=test, line=facts["needle_line"], expected=expected, got=got)
