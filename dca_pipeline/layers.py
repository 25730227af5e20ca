"""What every layer's `definitions.py` uses to collect its own assets and checks (ground floor, Dagster only)."""
from __future__ import annotations

from types import ModuleType

from dagster import AssetsDefinition, Definitions, load_asset_checks_from_modules, load_assets_from_modules, with_source_code_references


def layer_definitions(group: str, modules: list[ModuleType], extra_checks: list | None = None, **wiring: object) -> Definitions:
    """The assets of `modules` in asset group `group` (not the ones they import from other layers), the checks
    on them (with code references to their source), `extra_checks` (checks this layer owns on a lower layer's asset, e.g. execution's check that the day's
    bars cover every held coin), and the layer's jobs, schedules, sensors or resources given as keyword arguments."""
    assets = [a for a in load_assets_from_modules(modules)
              if isinstance(a, AssetsDefinition) and set(a.group_names_by_key.values()) == {group}]
    keys = {k for a in assets for k in a.keys}
    checks = [c for c in load_asset_checks_from_modules(modules) if {ck.asset_key for ck in c.check_keys} <= keys]
    # each asset links to the file and line that defines it (the UI's "Code references" on the asset page)
    return Definitions(assets=with_source_code_references(assets), asset_checks=[*checks, *(extra_checks or [])], **wiring)
