"""The attribution service: goals, settings, tariffs and corrections (configuration),
plus the engine that attributes installs and conversions."""
