from setuptools import find_packages, setup

package_name = 'devrobot_core'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools', 'numpy', 'rosbags>=0.10', 'pillow'],
    zip_safe=True,
    maintainer='devrobot developers',
    maintainer_email='dev@devrobot.invalid',
    description='The pure robot contract shared by every devrobot package (no torch; rclpy '
                'only under ros/).',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
)
