"""The suggestion strategy: which step proposes the next batch, and with which model.

* :mod:`recipeopt.strategy.schedule` — the schedule (:func:`~recipeopt.strategy.schedule.propose`);
* :mod:`recipeopt.strategy.steps` — the steps: design, prior-ranked, hedge, qLogNEI;
* :mod:`recipeopt.strategy.guard` — the negative-transfer guard;
* :mod:`recipeopt.strategy.trust_region` — the trust region, replayed from the runs;
* :mod:`recipeopt.strategy.surrogates` — the models the steps use;
* :mod:`recipeopt.strategy.provenance` — how a run was proposed, as a record and a sentence;
* :mod:`recipeopt.strategy.config` — the research settings and their shipped defaults.

Nothing is imported here, so the light modules (config, provenance) load without torch.
"""
