"""LOTUS_PROFILE selects a profile directory; a wrong one fails naming what is wrong. (The
profile brought up on PostgreSQL is tests/assets/test_assets_production.py.)"""

import pytest

from lotus_core.config import load_settings
from lotus_core.deploy import ProfileError, profile_dir


def test_profile_selection_names_what_is_wrong(tmp_path):
    assert profile_dir({}) is None and profile_dir({"LOTUS_PROFILE": "embedded"}) is None
    assert profile_dir({"LOTUS_PROFILE": "production"}).name == "production"
    with pytest.raises(ProfileError, match="no profile directory .*known: embedded, production"):
        load_settings(env={"LOTUS_PROFILE": "prodution"})
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "lotus.yaml").write_text("deploy: {executor: multiprocess}\n")
    with pytest.raises(ProfileError, match="lacks dagster.yaml"):
        load_settings(env={"LOTUS_PROFILE": str(tmp_path / "half")})
    assert load_settings(env={}).deploy.executor == "in_process"  # the embedded default
