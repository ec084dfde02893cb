"""The domain: the targeting policy, deciding and recording entries, outcomes, waivers and keys, and the store
they are kept in (tables by family, migrations). Takes domain inputs; speaks no HTTP."""
