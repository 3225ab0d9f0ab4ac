"""The configuration file's `gateway.*` keys and the addon's `gateway_*` mitmproxy options are
one table (`monitor.gateway.options.OPTIONS`): none can be added, renamed or retyped on one side
only."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mitmproxy.test import taddons

from monitor.commands.proxy import proxy_options, setting_value
from monitor.config import Config
from monitor.gateway.addon import Gateway
from monitor.gateway.options import MITMPROXY_SETTINGS, OPTIONS, PREFIX
from monitor.gateway.settings import GatewaySettings


def test_every_gateway_setting_is_an_option_or_mitmproxys_own() -> None:
    for field in dataclasses.fields(GatewaySettings):
        if field.name in MITMPROXY_SETTINGS:
            assert PREFIX + field.name not in OPTIONS
            continue
        option = OPTIONS[PREFIX + field.name]
        assert option.config_key == f"gateway.{field.name}"
        assert option.help == field.metadata["help"]
        assert option.default == getattr(GatewaySettings(), field.name)


def test_every_option_is_read_from_a_setting_that_exists() -> None:
    config = Config()
    for option in OPTIONS.values():
        value = setting_value(config, option.config_key)  # raises AttributeError if not
        if option.typespec == Sequence[str]:
            assert isinstance(value, list)
        elif option.name != "gateway_reload_interval":  # seconds: whole in mitmproxy
            assert isinstance(value, option.typespec), option.name


def test_the_addon_declares_exactly_the_table() -> None:
    gateway = Gateway(writer=None)
    with taddons.context(gateway) as tctx:
        declared = {name for name in tctx.options._options if name.startswith(PREFIX)}
        assert declared == set(OPTIONS)
        for name, option in OPTIONS.items():
            assert tctx.options._options[name].typespec == option.typespec
            assert tctx.options._options[name].help == option.help
            assert tctx.options._options[name].default == option.default


def test_the_config_sets_every_option_with_its_type() -> None:
    options = proxy_options(Config())
    assert set(OPTIONS) <= set(options)
    for name, option in OPTIONS.items():
        value = options[name]
        if option.typespec == Sequence[str]:
            assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        else:
            assert isinstance(value, option.typespec), name
