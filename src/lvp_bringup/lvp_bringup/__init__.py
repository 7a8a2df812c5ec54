"""PlanAndExecute orchestration, launch files, RViz configs, plan archive replay and the lvp tool."""
