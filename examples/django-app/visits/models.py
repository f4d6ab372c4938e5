from django.db import models


class Visit(models.Model):
    """One page view: which app server answered it, running which release."""

    node = models.CharField(max_length=64)
    release = models.CharField(max_length=64)
    at = models.DateTimeField(auto_now_add=True)
