"""Triage: analysts' ratings, the expert model fitted from them, and the queue of entities to review.

- :mod:`winnow.triage.features`: what an analyst weighs about an entity, as numbers
- :mod:`winnow.triage.ratings`: ratings and verdicts, durable, exportable, mergeable
- :mod:`winnow.triage.model`: a monotone additive model of the ratings whose contributions explain each score
- :mod:`winnow.triage.design`: synthetic scenarios (an experimental design over the features) and active learning
- :mod:`winnow.triage.queue`: entities in review order, with the reasons and what was already decided
"""
