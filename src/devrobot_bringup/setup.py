from glob import glob

from setuptools import find_packages, setup

package_name = 'devrobot_bringup'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
        ('share/' + package_name + '/rviz', glob('rviz/*.rviz')),
    ],
    install_requires=['setuptools', 'numpy', 'tqdm'],
    zip_safe=True,
    maintainer='devrobot developers',
    maintainer_email='dev@devrobot.invalid',
    description='Launch files, parameters, rviz config and the no-ROS devrobot command.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'devrobot = devrobot_bringup.cli:console_main',
        ],
    },
)
