"""Math explanations: LLM providers, the offline explainer, the cache and the budget."""
