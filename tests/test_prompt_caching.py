"""Prompt caching: breakpoints where the model must be asked (Anthropic's, through OpenRouter
and the Vercel AI Gateway), nothing for models that cache by themselves, and cache reads and
writes summed from every usage shape providers send."""

import json
import os

import pytest
from conftest import SAMPLE_TOOLS
from server import Reply, sse
from streams import answer_step, chunk, usage, weather_call_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def two_steps(server, run_cli, provider, model, *extra, env=None, first_usage=None,
              second_usage=None):
    first = weather_call_step()
    second = answer_step("It is 40 C.")
    if first_usage is not None:
        first[-1] = chunk(usage=first_usage, choices=False)
    if second_usage is not None:
        second[-1] = chunk(usage=second_usage, choices=False)
    server.add(Reply(sse(*first)), Reply(sse(*second)))
    run = run_cli(["ask", "--json", "--no-stdin", "-p", provider, "--base-url", server.url,
                   "-m", model, "-s", "You are terse.", "-t", SAMPLE_TOOLS, *extra,
                   "Weather in Florence?"], env=env)
    assert run.code == 0, run
    return run, server.bodies()


def marks(value):
    """Every cache_control found anywhere in a request body, with where it stands."""
    found = []

    def walk(item, path):
        if isinstance(item, dict):
            for key, inner in item.items():
                if key == "cache_control":
                    found.append(path)
                walk(inner, path + (key,))
        elif isinstance(item, list):
            for i, inner in enumerate(item):
                walk(inner, path + (i,))

    walk(value, ())
    return found


def test_openrouter_anthropic_asks_for_the_whole_prefix_at_every_step(server, run_cli):
    _, bodies = two_steps(server, run_cli, "openrouter", "anthropic/claude-sonnet-4")
    for body in bodies:
        assert body["cache_control"] == {"type": "ephemeral"}  # the documented request level
        assert marks(body) == [()]  # and nowhere else: the conversation is unchanged
    assert [m["role"] for m in bodies[1]["messages"]] == ["system", "user", "assistant", "tool"]


def test_vercel_anthropic_marks_system_and_newest_messages(server, run_cli):
    _, (first, second) = two_steps(server, run_cli, "vercel", "anthropic/claude-sonnet-4")
    assert marks(first) == [("messages", 0), ("messages", 1)]
    assert marks(second) == [("messages", 0), ("messages", 2, "tool_calls", 0),
                             ("messages", 3)]
    assert all(len(marks(b)) <= 4 for b in (first, second))
    assert second["messages"][3]["role"] == "tool"
    assert second["messages"][3]["cache_control"] == {"type": "ephemeral"}
    # step 2's prefix up to the assistant call was step 1's, read back from the cache
    assert second["messages"][1] == {"role": "user", "content": "Weather in Florence?"}


def test_vercel_parallel_tool_results_mark_the_last_result(server, run_cli):
    from streams import call_args, call_header

    step = [call_header(0, "a", "weather"), call_args(0, '{"location": "Rome"}'),
            call_header(1, "b", "weather"), call_args(1, '{"location": "Oslo"}'),
            chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]
    server.add(Reply(sse(*step)), Reply(sse(*answer_step("ok"))))
    run = run_cli(["ask", "--json", "--no-stdin", "-p", "vercel", "--base-url", server.url,
                   "-m", "anthropic/claude-sonnet-4", "-t", SAMPLE_TOOLS, "Two cities"])
    assert run.code == 0, run
    second = server.bodies()[1]
    assert marks(second) == [("messages", 1, "tool_calls", 1), ("messages", 3)]


@pytest.mark.parametrize("provider, model", [("openrouter", "openai/gpt-5.4-nano"),
                                             ("openai", "gpt-4o-mini"),
                                             ("vercel", "openai/gpt-5"),
                                             ("openrouter", "deepseek/deepseek-chat")])
def test_models_that_cache_by_themselves_get_nothing(server, run_cli, provider, model):
    _, bodies = two_steps(server, run_cli, provider, model)
    assert all(marks(body) == [] for body in bodies)


@pytest.mark.parametrize("provider", ["openrouter", "vercel"])
def test_no_cache_turns_it_off(server, run_cli, provider):
    _, bodies = two_steps(server, run_cli, provider, "anthropic/claude-sonnet-4", "--no-cache")
    assert all(marks(body) == [] for body in bodies)


def test_a_provider_in_the_config_can_turn_it_off(server, run_cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("providers:\n  - name: vercel\n    cache: false\n")
    _, bodies = two_steps(server, run_cli, "vercel", "anthropic/claude-sonnet-4",
                          env={"LLMRUN_CONFIG": str(config)})
    assert all(marks(body) == [] for body in bodies)
    config.write_text("providers:\n  - name: vercel\n    cache: sometimes\n")
    run = run_cli(["ask", "-p", "vercel", "-m", "m", "hi"], env={"LLMRUN_CONFIG": str(config)})
    assert run.code == 3 and f"{config}:3:" in run.stderr and "cache must be true or false" \
        in run.stderr


USAGE_SHAPES = {
    "openrouter": (usage(1500, 20, prompt_tokens_details={"cached_tokens": 0,
                                                          "cache_write_tokens": 1400}),
                   usage(1600, 30, prompt_tokens_details={"cached_tokens": 1400,
                                                          "cache_write_tokens": 150})),
    "anthropic-style": (usage(1500, 20, cache_read_input_tokens=0,
                              cache_creation_input_tokens=1400),
                        usage(1600, 30, cache_read_input_tokens=1400,
                              cache_creation_input_tokens=150)),
    "vercel": (usage(1500, 20, prompt_tokens_details={"cached_tokens": 0},
                     cache_creation_input_tokens=1400),
               usage(1600, 30, prompt_tokens_details={"cached_tokens": 1400},
                     cache_creation_input_tokens=150)),
}


@pytest.mark.parametrize("shape", sorted(USAGE_SHAPES))
def test_cache_reads_and_writes_are_summed_over_steps(server, run_cli, shape):
    first, second = USAGE_SHAPES[shape]
    run, _ = two_steps(server, run_cli, "openrouter", "anthropic/claude-sonnet-4",
                       first_usage=first, second_usage=second)
    got = run.json()["usage"]
    assert got["prompt_tokens"] == 3100
    assert got["cached_tokens"] == 1400 and got["cache_write_tokens"] == 1550
    assert "1400 cached, 1550 written to cache" in run.stderr


def test_the_recorded_claude_conversations_still_replay_strictly(run_cli):
    for name in ("vercel-claude-sonnet-4-weather.yaml",):
        run = run_cli(["ask", "--json", "--replay", os.path.join(ROOT, "samples", name),
                       "--replay-strict", "-t", SAMPLE_TOOLS, "-s", "You are a helpful assistant",
                       "What's the weather in Florence,Italy?"],
                      env={"LLMRUN_API_KEY": ""})
        assert run.code == 0, run
        assert json.loads(run.stdout)["steps"] == 2
