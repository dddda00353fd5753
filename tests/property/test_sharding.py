"""Real sharding: shards partition one global sample space and reproduce the unsharded run."""

from hypothesis import given, settings
from hypothesis import strategies as st

from training.data.generate import generate


@settings(max_examples=15, deadline=None)
@given(total=st.integers(1, 90), num_shards=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_shards_are_disjoint_and_their_union_is_the_unsharded_run(total, num_shards, seed):
    full = {r["id"]: r for r in generate(total, seed)}
    seen: dict[str, dict] = {}
    for k in range(num_shards):
        for row in generate(total, seed, num_shards=num_shards, shard_index=k):
            assert row["id"] not in seen, "a sample landed in two shards"
            seen[row["id"]] = row
    assert seen == full  # same ids, and each sample identical whichever way it was produced
    assert len(full) == total
