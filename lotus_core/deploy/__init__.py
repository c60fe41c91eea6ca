"""How Lotus is deployed: the embedded default or a named profile (LOTUS_PROFILE), the step
executor, the lake's location and the distributed executor's broker. Pure: no dagster."""

from lotus_core.deploy.profile import PROFILE_ENV, ProfileError, profile_dir, profile_file
from lotus_core.deploy.settings import CelerySettings, DeploySettings

__all__ = ["PROFILE_ENV", "CelerySettings", "DeploySettings", "ProfileError", "profile_dir",
           "profile_file"]
