import{c1 as i}from"./index-D9nI0Aru.js";const n=o=>["",...i].includes(o);export{n as i};
