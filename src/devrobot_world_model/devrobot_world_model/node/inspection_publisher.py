"""The world-model node's window for people: images, scores and metrics as ROS topics.

A shell piece (it creates publishers on the node it is given); the conversions it relies on are
the pure functions of `inspection` and `devrobot_core.conversions`.
- `world_model/reconstruction` and `world_model/prediction/action_<i>`: sensor_msgs/Image, rgb8,
  stamped like the camera frame they were computed from (rviz, Foxglove);
- `world_model/scores`: std_msgs/Float32MultiArray, one score per action (rqt_plot `data[i]`),
  then one row per part of the score (`predicted_error`, `disagreement`, `progress`,
  `falling`); the layout's first dimension is labelled with the rows' names, the second
  `action`;
- `/diagnostics`: diagnostic_msgs/DiagnosticArray, every metric as a key/value, WARN when a
  value is not finite;
- `world_model/metrics/<key>`: std_msgs/Float64 per metric, created on first use (rqt_plot).
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, Float64, MultiArrayDimension, MultiArrayLayout

from devrobot_core.conversions import build_image
from devrobot_world_model.node import inspection

IMAGE_DEPTH = 2  # inspection images are large and only the newest matters


class InspectionPublisher:
    def __init__(self, node, n_actions: int, classes):
        self.node, self.classes = node, classes
        self.reconstruction_pub = node.create_publisher(Image, 'world_model/reconstruction',
                                                        IMAGE_DEPTH)
        self.prediction_pubs = [node.create_publisher(Image, inspection.prediction_topic(i),
                                                      IMAGE_DEPTH) for i in range(n_actions)]
        self.scores_pub = node.create_publisher(Float32MultiArray, 'world_model/scores', 10)
        self.diagnostics_pub = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.metric_pubs = {}

    def publish_inspection(self, stamp_ns: int, inspected: dict) -> None:
        """Publish the learner's `inspect()` result for the frame stamped `stamp_ns`."""
        self.reconstruction_pub.publish(build_image(
            self.classes, inspection.to_rgb8(inspected['reconstruction']), stamp_ns))
        for publisher, image in zip(self.prediction_pubs, inspected['predictions']):
            publisher.publish(build_image(self.classes, inspection.to_rgb8(image), stamp_ns))
        rows = inspection.score_rows(inspected)
        actions = len(rows[0][1])
        layout = MultiArrayLayout(dim=[
            MultiArrayDimension(label=','.join(name for name, _ in rows), size=len(rows),
                                stride=len(rows) * actions),
            MultiArrayDimension(label='action', size=actions, stride=actions)])
        self.scores_pub.publish(Float32MultiArray(
            layout=layout, data=[value for _, values in rows for value in values]))

    def publish_metrics(self, batches) -> None:
        """Publish the numeric values of the metric dicts in `batches` (nothing when none)."""
        metrics = inspection.numeric_metrics(batches)
        if not metrics:
            return
        bad = inspection.non_finite_keys(metrics)
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if bad else DiagnosticStatus.OK, name='world_model',
            message=f'non-finite: {", ".join(bad)}' if bad else 'learning',
            values=[KeyValue(key=k, value=inspection.format_value(v))
                    for k, v in sorted(metrics.items())])
        diagnostics = DiagnosticArray(status=[status])
        diagnostics.header.stamp = self.node.get_clock().now().to_msg()
        self.diagnostics_pub.publish(diagnostics)
        for key, value in metrics.items():
            if key not in self.metric_pubs:
                self.metric_pubs[key] = self.node.create_publisher(
                    Float64, inspection.metric_topic(key), 10)
            self.metric_pubs[key].publish(Float64(data=value))
