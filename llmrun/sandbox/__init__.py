"""The sandbox every tool process runs in: the policy (policy.py), what this kernel can
enforce (support.py), the kernel interfaces (landlock.py, seccomp.py, stdlib only), the
per-call supervisor process (supervisor.py) and how llmrun starts it (launch.py)."""
