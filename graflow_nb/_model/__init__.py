"""Layer 2, models: the data every layer shares: the error tree, feedback requests and responses
(and their validation), checkpoint documents, run outcomes, the guide's notification_config.
"""
