"""Who is acting, and what their role lets them read."""
