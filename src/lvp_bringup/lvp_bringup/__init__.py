"""PlanAndExecute orchestration, launch files, RViz configs, archive replay and the lvp tool."""
