"""Orchestration: the runs that chain plugins together (ingest -> derived tables; detect -> enrich -> store).

Plugin packages (sources, detections, enrich) do one thing each; what runs after what lives here.
"""
