"""The guide's new pipeline transform (section 六.2): a callable that takes the results dict and
returns it (or None to drop the sample). ``MyTransform`` marks every sample it saw with
``results['dummy'] = True``; a real transform reads and updates the keys the guide lists
(``img``, ``gt_bboxes``, ``img_shape``...).
"""

from detcli.data import PIPELINES


@PIPELINES.register_module()
class MyTransform:

    def __call__(self, results):
        results['dummy'] = True
        return results
