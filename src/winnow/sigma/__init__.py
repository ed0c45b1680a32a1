"""Sigma rules on the lake: rules parsed by pySigma, compiled to Ibis predicates, run in few scans.

* :mod:`winnow.sigma.rules` loads a folder of rules (one located problem per bad file or rule);
* :mod:`winnow.sigma.logsources` maps a rule's logsource onto a lake table and a row filter, and its
  field names onto column expressions (``win.event`` fields come from the event data JSON);
* :mod:`winnow.sigma.compile` turns a rule's parsed condition into one Ibis boolean expression;
* :mod:`winnow.sigma.scan` evaluates many compiled rules in one pass per log source;
* :mod:`winnow.sigma.correlate` applies Sigma correlation rules to the matched events.

The detector is :mod:`winnow.detections.sigma`; ``winnow sigma`` runs or checks a folder ad hoc.
"""
