from django.test import TestCase

from visits.models import Visit


class IndexTest(TestCase):
    def test_each_view_is_recorded(self):
        for expected in (1, 2):
            response = self.client.get("/")
            self.assertEqual(response.status_code, 200)
            self.assertContains(response, f'<span class="visits">{expected}</span>')
        self.assertEqual(Visit.objects.count(), 2)
