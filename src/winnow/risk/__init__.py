"""Entity risk: findings resolved to typed entities and combined per entity (docs/ARCHITECTURE.md, "Entity risk")."""

from winnow.risk.combine import EntityRisk, RiskSettings, entity_risk
from winnow.risk.entities import ENTITY_TYPES, Entity, Resolver, entities_of
from winnow.risk.lake_context import lake_risk, resolver_for

__all__ = ["ENTITY_TYPES", "Entity", "EntityRisk", "Resolver", "RiskSettings", "entities_of", "entity_risk",
           "lake_risk", "resolver_for"]
