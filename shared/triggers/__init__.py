"""What the gateway and the triggers service both need to know about triggers.

`conditions` (the condition language), `cron` (schedules), `targets`
(webhook URL policy and signatures) and `definitions` (state and validation)
are pure: no I/O.
"""
