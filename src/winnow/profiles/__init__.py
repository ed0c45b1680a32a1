"""Profiles: per-entity hourly metrics computed incrementally into the lake, read by the baselines.

* :mod:`winnow.profiles.definitions` declares what is profiled (entity, metric, filter, period), the
  built-in set and the user's own from the ``profiles.custom`` setting;
* :mod:`winnow.profiles.store` computes each profile day by day into ``<lake>/_derived/profiles``,
  reading only the source days that are new or changed since the last run.
"""

from winnow.profiles.definitions import Profile, profiles
from winnow.profiles.store import read_profile, update_profiles

__all__ = ["Profile", "profiles", "read_profile", "update_profiles"]
