import{b3 as i}from"./index-CwHrVHeu.js";const n=o=>["",...i].includes(o);export{n as i};
