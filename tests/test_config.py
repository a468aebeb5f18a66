"""Config composition, validation errors and the CLI's fail-fast behaviour."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentrl.config import ConfigError, group_options, load_config


def test_defaults_and_group_selection():
    cfg = load_config([])
    assert cfg.algo.name == "sc_grpo" and cfg.algo.sc.enabled and cfg.model.path == "tiny"
    grpo = load_config(["algo=grpo", "trainer.steps=3", "algo.lr=3e-6"])
    assert grpo.algo.name == "grpo" and not grpo.algo.sc.enabled
    assert grpo.trainer.steps == 3 and grpo.algo.lr == pytest.approx(3e-6)
    dapo = load_config(["algo=dapo"])
    assert dapo.algo.clip_high == pytest.approx(0.28) and dapo.algo.loss_agg == "token-mean"
    assert set(group_options("algo")) >= {"grpo", "dapo", "sc_grpo"}


def test_list_and_nested_values_and_model_paths(tmp_path):
    cfg = load_config(["env=guess", "rollout=sglang", "rollout.urls=[http://127.0.0.1:1,http://127.0.0.1:2]",
                       "env.kwargs.high=8", f"model={tmp_path}"])
    assert cfg.rollout.urls == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert cfg.env.kwargs == {"high": 8, "max_turns": 6}
    assert cfg.model.path == str(tmp_path)
    assert load_config(["model=Qwen/Qwen3-0.6B"]).model.path == "Qwen/Qwen3-0.6B"


def test_group_options_may_set_global_values_and_the_command_line_wins():
    tiny = load_config([])
    assert tiny.model.path == "tiny" and tiny.algo.lr == pytest.approx(1e-3)  # from model/tiny.yaml _global_
    assert tiny.model.tiny.sft_epochs == 12 and tiny.env.kwargs["levels"] == [0]  # from env/math_warmup.yaml
    assert load_config(["model=hf"]).algo.lr == pytest.approx(1e-5)
    assert load_config(["algo.lr=2e-4"]).algo.lr == pytest.approx(2e-4)
    # an env recipe's _global_ is applied after the model's: webshop_warmup's RL lr beats model/tiny.yaml's
    assert load_config(["env=webshop_warmup"]).algo.lr == pytest.approx(3e-4)
    assert load_config(["env=webshop_warmup", "algo.lr=1e-3"]).algo.lr == pytest.approx(1e-3)


def test_an_env_brings_its_tiny_recipe_only_for_the_tiny_model():
    tiny = load_config(["env=webshop"])
    recipe = load_config(["env=webshop_warmup"])
    informs = {"env": {"notice", "recipe"}}  # what the run says, not what it does
    assert tiny.model_dump(exclude=informs) == recipe.model_dump(exclude=informs)
    assert "env=webshop_warmup" in tiny.env.notice and recipe.env.notice is None
    assert tiny.env.recipe == "webshop_warmup" and recipe.env.recipe is None
    faithful = load_config(["env=webshop", "model=Qwen/Qwen3-0.6B"])
    assert faithful.env.kwargs["variant"] == "faithful" and faithful.env.notice is None
    assert load_config(["env=webshop", "trainer.steps=5"]).trainer.steps == 5  # the command line still wins


def test_the_tiny_recipe_does_not_change_the_warm_start_cache_key():
    from agentrl.tiny import tiny_model_dir

    assert tiny_model_dir(load_config(["env=webshop"])) == tiny_model_dir(load_config(["env=webshop_warmup"]))
    code = load_config(["env=code"])
    assert code.env.tiny_unlearnable
    allowed = load_config(["env=code", "model.tiny.allow_unlearnable=true"])
    assert tiny_model_dir(code) == tiny_model_dir(allowed)
    from agentrl.tiny import copy_phase_path

    assert copy_phase_path(code, range(12, 1718)) == copy_phase_path(allowed, range(12, 1718))


def test_the_warm_start_cache_key_is_the_build_seed_however_it_is_given():
    """RL seeds that share a warm start (``model.tiny.seed``) reuse the one built by that seed's plain run."""
    from agentrl.tiny import tiny_model_dir

    plain = tiny_model_dir(load_config(["env=webshop", "seed=0"]))
    assert tiny_model_dir(load_config(["env=webshop", "seed=1", "model.tiny.seed=0"])) == plain
    assert tiny_model_dir(load_config(["env=webshop", "seed=1"])) != plain
    assert tiny_model_dir(load_config(["env=webshop", "seed=0", "model.tiny.seed=1"])) != plain


def test_training_the_tiny_model_on_an_env_it_cannot_learn_is_refused_at_once(tmp_path):
    for env in ("code", "appworld"):
        r = _cli(f"env={env}", f"trainer.output_dir={tmp_path}")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"env={env} with the embedded tiny model" in r.stderr
        assert "model.tiny.allow_unlearnable=true" in r.stderr and "measured: success 0.0" in r.stderr
    assert not any(tmp_path.iterdir())  # nothing was built or written
    assert load_config(["env=code", "model=Qwen/Qwen3-0.6B"]).env.tiny_unlearnable is None


def test_a_bad_tiny_section_is_named(tmp_path):
    import shutil

    from agentrl.config import config_dir

    root = tmp_path / "configs"
    shutil.copytree(config_dir(), root)
    (root / "env" / "odd.yaml").write_text("id: guess\n_tiny_:\n  recipee: guess\n")
    with pytest.raises(ConfigError, match=r"unknown _tiny_ key\(s\) \['recipee'\]; accepted: recipe"):
        load_config(["env=odd"], root=root)
    (root / "env" / "odd.yaml").write_text("id: guess\n_tiny_: guess\n")
    with pytest.raises(ConfigError, match="_tiny_ must be a mapping"):
        load_config(["env=odd"], root=root)


def test_registered_env_without_yaml_is_accepted():
    import agentrl

    agentrl.register("guess-cfg-test", entry_point="envs.guess:GuessNumberEnv")
    assert load_config(["env=guess-cfg-test"]).env.id == "guess-cfg-test"


def test_unknown_key_names_dotted_path_and_suggestion():
    with pytest.raises(ConfigError) as e:
        load_config(["trainer.stepz=3"])
    assert "'trainer.stepz'" in str(e.value) and "Did you mean 'trainer.steps'?" in str(e.value)
    with pytest.raises(ConfigError, match=r"'algo\.sc\.alpah'.*Did you mean 'algo\.sc\.alpha'"):
        load_config(["algo.sc.alpah=0.2"])


def test_wrong_type_names_key_value_and_expected_type():
    with pytest.raises(ConfigError) as e:
        load_config(["trainer.steps=abc"])
    assert "'trainer.steps' = 'abc' (str)" in str(e.value) and "integer" in str(e.value)
    with pytest.raises(ConfigError, match=r"'algo\.loss_agg' = 'sum'.*seq-mean-token-mean"):
        load_config(["algo.loss_agg=sum"])
    with pytest.raises(ConfigError, match=r"'algo\.group_size' = 0.*greater than or equal to 1"):
        load_config(["algo.group_size=0"])


def test_unknown_group_options():
    with pytest.raises(ConfigError, match=r"env='gess'.*Did you mean 'guess'"):
        load_config(["env=gess"])
    with pytest.raises(ConfigError, match=r"algo='grop' is not a config.*Did you mean 'grpo'"):
        load_config(["algo=grop"])
    with pytest.raises(ConfigError, match="must look like key=value"):
        load_config(["trainer.steps"])


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "agentrl.run", *args], capture_output=True, text=True)


def test_cli_fails_fast_on_bad_env_and_key():
    r = _cli("env=nope")
    assert r.returncode == 2 and "env='nope'" in r.stderr and "Accepted:" in r.stderr
    r = _cli("trainer.stepz=3")
    assert r.returncode == 2 and "Did you mean 'trainer.steps'?" in r.stderr


def test_cli_prints_resolved_config_without_running():
    r = _cli("--print-config", "algo=dapo", "trainer.steps=7")
    assert r.returncode == 0, r.stderr
    assert "name: dapo" in r.stdout and "steps: 7" in r.stdout and "clip_high: 0.28" in r.stdout
    r = _cli("--verbose")
    assert r.returncode == 2 and "unknown flag" in r.stderr
