// Tests run on the plain cpu backend: it is the reference every faster kernel is checked against.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

tf.env().set('PROD', true);
await tf.setBackend('cpu');
